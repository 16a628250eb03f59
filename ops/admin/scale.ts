/**
 * `plasmd scale [N]`: sets the number of executor processes of the running node through
 * its pm2 (at PM2_HOME, default <runtime_dir>/pm2), without touching the signer or discovery.
 * Without N it applies `executors` from the configuration: plasmd.service runs it as
 * `systemctl reload plasmd`. Discovery notices the executors that come and go by itself; the
 * command waits until it reports N executors up.
 */
import { connect as netConnect } from 'node:net'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { PhaseClient } from '@phase-network/sdk'
import { CliError, UsageError, parse } from '../../cli/src/usage.ts'
import { EXIT } from '../../cli/src/exit.ts'
import { loadForCli } from './config.ts'

const APP = 'executor'
/** How long to wait for discovery to see the new executors. */
const SETTLE_MS = 30_000

interface Pm2Proc { pm_id: number, name: string, pm2_env?: { NODE_APP_INSTANCE?: number | string, status?: string } }
interface Pm2Api {
  connect: (cb: (err: Error | null) => void) => void
  disconnect: () => void
  list: (cb: (err: Error | null, list: Pm2Proc[]) => void) => void
  delete: (id: number, cb: (err: Error | null) => void) => void
  scale: (app: string, n: string, cb: (err: Error | null) => void) => void
}

async function answers (path: string): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const s = netConnect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

function call<T> (fn: (cb: (err: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => { if (err !== null && err !== undefined) reject(err); else resolve(value as T) }))
}

export async function scaleCommand (argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals } = parse(argv, { config: { type: 'string' }, 'no-wait': { type: 'boolean' } })
  if (positionals.length > 1) throw new UsageError('scale takes at most one number')
  const asked = positionals[0]
  if (asked !== undefined && (!/^[0-9]{1,2}$/.test(asked) || Number(asked) < 1 || Number(asked) > 64)) throw new UsageError('the executor count must be 1 to 64')
  const config = loadForCli(values.config as string | undefined, env)
  const target = asked === undefined ? config.executors : Number(asked)
  const home = env.PM2_HOME ?? join(config.runtimeDir, 'pm2')
  const rpc = join(home, 'rpc.sock')
  let owner: number
  try {
    owner = statSync(home).uid
  } catch {
    throw new CliError(`no running node: ${home} does not exist (is plasmd running? set PM2_HOME if it uses another folder)`, EXIT.UNAVAILABLE)
  }
  if (process.getuid !== undefined && process.getuid() !== owner) {
    throw new CliError(`the node runs as another user (uid ${owner}): use 'sudo systemctl reload plasmd' after editing the config, or run this command as that user`, EXIT.NO_PERM)
  }
  if (!await answers(rpc)) throw new CliError(`no running node: nothing answers on ${rpc}`, EXIT.UNAVAILABLE)

  // pm2 reads PM2_HOME when loaded: load it only now, pointed at the node's own pm2.
  process.env.PM2_HOME = home
  const require = createRequire(import.meta.url)
  const PM2 = require('pm2') as { custom: new (opts: Record<string, unknown>) => Pm2Api }
  const pm2 = new PM2.custom({ pm2_home: home, daemon_mode: true })
  await call<void>((cb) => pm2.connect(cb))
  let before: number
  try {
    const procs = (await call<Pm2Proc[]>((cb) => pm2.list(cb))).filter((p) => p.name === APP)
    before = procs.length
    if (before === 0) throw new CliError(`pm2 at ${home} runs no '${APP}' app`, EXIT.UNAVAILABLE)
    if (target > before) {
      await call<void>((cb) => pm2.scale(APP, `+${target - before}`, cb))
    } else if (target < before) {
      // Retire the highest indices first; each executor finishes its jobs before it exits.
      const byIndex = [...procs].sort((a, b) => Number(b.pm2_env?.NODE_APP_INSTANCE ?? 0) - Number(a.pm2_env?.NODE_APP_INSTANCE ?? 0))
      for (const p of byIndex.slice(0, before - target)) await call<void>((cb) => pm2.delete(p.pm_id, cb))
    }
  } finally {
    pm2.disconnect()
  }
  process.stdout.write(before === target ? `executors: already ${target}\n` : `executors: ${before} -> ${target}\n`)
  if (values['no-wait'] === true || before === target) return EXIT.OK
  // Wait for discovery (at the node's own address) to route to exactly the new set.
  const client = new PhaseClient({ address: config.api.grpc, token: config.api.token ?? undefined })
  try {
    const deadline = Date.now() + SETTLE_MS
    let up = -1
    let total = -1
    while (Date.now() < deadline) {
      try {
        const s = await client.nodeStatus({ timeoutMs: 2000 })
        const executors = s.processes.filter((p) => p.name === 'executor')
        total = executors.length
        up = executors.filter((p) => p.state === 'up').length
        if (total === target && up === target) {
          process.stdout.write(`discovery routes jobs to ${target} executors\n`)
          return EXIT.OK
        }
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    throw new CliError(`pm2 runs ${target} executors but discovery sees ${up} up of ${total} after ${SETTLE_MS / 1000} s: see 'phase node status' and the logs`, EXIT.UNAVAILABLE)
  } finally {
    client.close()
  }
}
