/**
 * `plasmd config check | show | get KEY`: the node's configuration as plasmd resolves it (the
 * file in --config, PHASE_CONFIG or /etc/phase/plasmd.json, then PHASE_* overrides, then the
 * embedded defaults). A bad file exits 78 with a message naming the key; secrets never print.
 */
import { loadConfig, type NodeConfig } from '../../services/core/process/src/config.ts'
import { InvalidConfigError } from '../../services/core/protocol/src/errors.ts'
import { CliError, UsageError, parse } from '../../cli/src/usage.ts'
import { EXIT } from '../../cli/src/exit.ts'

const OPTIONS = { config: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, json: { type: 'boolean' } } as const

/** The effective configuration in the file's own key names, with the API token redacted. */
export function effectiveConfig (config: NodeConfig): Record<string, unknown> {
  const snake = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(snake)
    if (typeof value !== 'object' || value === null) return value
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(v)]))
  }
  const doc = snake(config) as Record<string, Record<string, unknown>>
  doc.api = { ...doc.api, token: config.api.token === null ? null : '(set)' }
  // Names that differ between the file and the resolved object.
  const p2p = doc.p2p as Record<string, unknown>
  p2p.per_peer_jobs_per_second = p2p.per_peer_per_second
  delete p2p.per_peer_per_second
  return doc
}

export function loadForCli (file: string | undefined, env: Readonly<Record<string, string | undefined>>): NodeConfig {
  try {
    return loadConfig({ env, file })
  } catch (err) {
    if (err instanceof InvalidConfigError) throw new CliError(err.message, EXIT.CONFIG)
    throw err
  }
}

export async function configCommand (argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS)
  const [sub, key, ...extra] = positionals
  const file = values.config as string | undefined
  switch (sub) {
    case 'check': {
      if (key !== undefined) throw new UsageError('config check takes no arguments')
      const config = loadForCli(file, env)
      if (values.quiet !== true) {
        process.stdout.write(`${config.source ?? 'no config file (embedded defaults)'}: ok; ${config.executors} executors, ` +
          `state ${config.stateDir}, sockets ${config.runtimeDir}, p2p ${config.p2p.enabled ? config.p2p.listen.join(' ') : 'off'}\n`)
      }
      return EXIT.OK
    }
    case 'show': {
      if (key !== undefined) throw new UsageError('config show takes no arguments')
      process.stdout.write(JSON.stringify(effectiveConfig(loadForCli(file, env)), null, 2) + '\n')
      return EXIT.OK
    }
    case 'get': {
      if (key === undefined || extra.length > 0) throw new UsageError('config get wants one KEY, e.g. runtime_dir or api.http.port')
      let value: unknown = effectiveConfig(loadForCli(file, env))
      for (const part of key.split('.')) {
        if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) {
          throw new CliError(`no config key '${key.slice(0, 80)}' (see 'plasmd config show')`, EXIT.USAGE)
        }
        value = (value as Record<string, unknown>)[part]
      }
      process.stdout.write(typeof value === 'string' ? `${value}\n` : `${JSON.stringify(value)}\n`)
      return EXIT.OK
    }
    default:
      throw new UsageError("config wants 'check', 'show' or 'get KEY'")
  }
}
