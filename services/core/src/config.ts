/**
 * Node configuration: one JSON file validated against schemas/config.schema.json, then env
 * overrides, then embedded defaults; validated once at the edge and frozen. Only process entry
 * points call `loadConfig` (they pass `process.env`); components receive the frozen result.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidConfigError } from './errors.ts'
import { describeError, validator } from './documents/validate.ts'

export const DEFAULT_CONFIG_PATH = '/etc/phase/plasmd.json'
export const DEFAULT_HTTP_PORT = 7780

export interface LimitsConfig {
  readonly maxModuleBytes: number
  readonly maxMemoryMb: number
  readonly defaultMemoryMb: number
  readonly maxTimeoutMs: number
  readonly defaultTimeoutMs: number
  readonly maxOutputBytes: number
  readonly defaultOutputBytes: number
  readonly maxStdinBytes: number
  readonly maxArgsBytes: number
}

export interface NodeConfig {
  /** The file the config came from, or null for embedded defaults. */
  readonly source: string | null
  readonly stateDir: string
  readonly runtimeDir: string
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  readonly executors: number
  readonly workersPerExecutor: number
  readonly queueCapacity: number
  readonly api: {
    readonly grpc: string
    readonly http: { readonly enabled: boolean, readonly host: string, readonly port: number, readonly socket: string }
    readonly token: string | null
  }
  readonly limits: LimitsConfig
  readonly p2p: P2pConfig
}

export interface P2pConfig {
  readonly enabled: boolean
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  readonly mdns: boolean
  readonly relayServer: boolean
  readonly upnp: boolean
  readonly privateAddresses: boolean
  readonly maxConnections: number
  readonly inboundPerSecond: number
  readonly maxRemoteJobs: number
  readonly perPeerConcurrency: number
  readonly perPeerPerSecond: number
}

/** Environment variables that override config keys, and the JSON pointer they set. */
const ENV_OVERRIDES: ReadonlyArray<[string, string[], 'string' | 'integer' | 'boolean']> = [
  ['PHASE_STATE_DIR', ['state_dir'], 'string'],
  ['PHASE_RUNTIME_DIR', ['runtime_dir'], 'string'],
  ['PHASE_LOG_LEVEL', ['log_level'], 'string'],
  ['PHASE_EXECUTORS', ['executors'], 'integer'],
  ['PHASE_WORKERS_PER_EXECUTOR', ['workers_per_executor'], 'integer'],
  ['PHASE_QUEUE_CAPACITY', ['queue_capacity'], 'integer'],
  ['PHASE_API_GRPC', ['api', 'grpc'], 'string'],
  ['PHASE_HTTP_ENABLED', ['api', 'http', 'enabled'], 'boolean'],
  ['PHASE_HTTP_HOST', ['api', 'http', 'host'], 'string'],
  ['PHASE_HTTP_PORT', ['api', 'http', 'port'], 'integer'],
  ['PHASE_API_TOKEN', ['api', 'token'], 'string'],
  ['PHASE_P2P_ENABLED', ['p2p', 'enabled'], 'boolean']
]

function validate (doc: unknown, where: string): void {
  const fn = validator('config')
  if (!fn(doc)) throw new InvalidConfigError(`${where}: ${describeError(fn.errors)}`)
}

export interface LoadConfigOptions {
  /** The process environment (only entry points pass process.env). */
  env: Readonly<Record<string, string | undefined>>
  /** Explicit config file; otherwise PHASE_CONFIG, otherwise /etc/phase/plasmd.json if present. */
  file?: string
}

/** Reads, validates, merges and freezes the node configuration. Throws InvalidConfigError. */
export function loadConfig (options: LoadConfigOptions): NodeConfig {
  const { env } = options
  const explicit = options.file ?? env.PHASE_CONFIG
  const path = explicit ?? DEFAULT_CONFIG_PATH
  let raw: Record<string, unknown> = {}
  let source: string | null = null
  try {
    raw = parseJsonObject(readFileSync(path, 'utf8'), path)
    source = resolve(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || explicit !== undefined) {
      if (err instanceof InvalidConfigError) throw err
      throw new InvalidConfigError(`cannot read config ${path}: ${(err as Error).message}`)
    }
  }
  validate(raw, source ?? 'config')
  for (const [name, pointer, type] of ENV_OVERRIDES) {
    const value = env[name]
    if (value === undefined || value === '') continue
    setPath(raw, pointer, parseEnv(name, value, type))
  }
  validate(raw, 'config after environment overrides')
  return resolveDefaults(raw, source, env)
}

function parseJsonObject (text: string, path: string): Record<string, unknown> {
  let doc: unknown
  try { doc = JSON.parse(text) } catch (err) {
    throw new InvalidConfigError(`${path}: not valid JSON (${(err as Error).message})`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InvalidConfigError(`${path}: must be a JSON object`)
  return doc as Record<string, unknown>
}

function parseEnv (name: string, value: string, type: 'string' | 'integer' | 'boolean'): unknown {
  if (type === 'string') return value
  if (type === 'boolean') {
    if (value === 'true' || value === '1') return true
    if (value === 'false' || value === '0') return false
    throw new InvalidConfigError(`${name}: must be true or false, got '${value.slice(0, 40)}'`)
  }
  if (!/^[0-9]{1,10}$/.test(value)) throw new InvalidConfigError(`${name}: must be a non-negative integer, got '${value.slice(0, 40)}'`)
  return Number(value)
}

function setPath (target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    node = (typeof next === 'object' && next !== null ? next : (node[key] = {})) as Record<string, unknown>
  }
  node[path[path.length - 1]!] = value
}

type Raw = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function resolveDefaults (raw: Raw, source: string | null, env: LoadConfigOptions['env']): NodeConfig {
  const stateHome = env.XDG_STATE_HOME ?? join(env.HOME ?? homedir(), '.local', 'state')
  const stateDir = resolve(raw.state_dir ?? join(stateHome, 'phase'))
  const runtimeDir = resolve(raw.runtime_dir ?? join(stateDir, 'run'))
  const l: Raw = raw.limits ?? {}
  const limits: LimitsConfig = {
    maxModuleBytes: l.max_module_bytes ?? 64 * 1024 * 1024,
    maxMemoryMb: l.max_memory_mb ?? 256,
    defaultMemoryMb: l.default_memory_mb ?? 64,
    maxTimeoutMs: l.max_timeout_ms ?? 60_000,
    defaultTimeoutMs: l.default_timeout_ms ?? 5_000,
    maxOutputBytes: l.max_output_bytes ?? 4 * 1024 * 1024,
    defaultOutputBytes: l.default_output_bytes ?? 1024 * 1024,
    maxStdinBytes: l.max_stdin_bytes ?? 4 * 1024 * 1024,
    maxArgsBytes: l.max_args_bytes ?? 64 * 1024
  }
  for (const [def, max, key] of [
    [limits.defaultMemoryMb, limits.maxMemoryMb, 'default_memory_mb'],
    [limits.defaultTimeoutMs, limits.maxTimeoutMs, 'default_timeout_ms'],
    [limits.defaultOutputBytes, limits.maxOutputBytes, 'default_output_bytes']
  ] as const) {
    if (def > max) throw new InvalidConfigError(`config: /limits/${key} (${def}) is above /limits/${key.replace('default_', 'max_')} (${max})`)
  }
  const http = { enabled: raw.api?.http?.enabled ?? true, host: raw.api?.http?.host ?? '127.0.0.1', port: raw.api?.http?.port ?? DEFAULT_HTTP_PORT, socket: raw.api?.http?.socket ?? join(runtimeDir, 'plasmd-http.sock') }
  const token: string | null = raw.api?.token ?? null
  if (http.enabled && !isLoopback(http.host) && token === null) {
    throw new InvalidConfigError(`config: /api/http/host '${http.host}' is not loopback, so /api/token is required`)
  }
  return deepFreeze({
    source,
    stateDir,
    runtimeDir,
    logLevel: raw.log_level ?? 'info',
    executors: raw.executors ?? 2,
    workersPerExecutor: raw.workers_per_executor ?? 1,
    queueCapacity: raw.queue_capacity ?? 256,
    api: { grpc: raw.api?.grpc ?? `unix:${join(runtimeDir, 'plasmd.sock')}`, http, token },
    limits,
    p2p: {
      enabled: raw.p2p?.enabled ?? true,
      listen: raw.p2p?.listen ?? ['/ip4/0.0.0.0/udp/4001/quic-v1', '/ip4/0.0.0.0/tcp/4001'],
      bootstrap: raw.p2p?.bootstrap ?? [],
      mdns: raw.p2p?.mdns ?? true,
      relayServer: raw.p2p?.relay_server ?? false,
      upnp: raw.p2p?.upnp ?? false,
      privateAddresses: raw.p2p?.private_addresses ?? false,
      maxConnections: raw.p2p?.max_connections ?? 300,
      inboundPerSecond: raw.p2p?.inbound_per_second ?? 5,
      maxRemoteJobs: raw.p2p?.max_remote_jobs ?? 64,
      perPeerConcurrency: raw.p2p?.per_peer_concurrency ?? 32,
      perPeerPerSecond: raw.p2p?.per_peer_jobs_per_second ?? 500
    }
  })
}

/** True for addresses that only this machine can reach. */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** Socket addresses of the node's internal processes, derived from the runtime folder. */
export function internalAddresses (config: Pick<NodeConfig, 'runtimeDir' | 'executors'>): { signer: string, executors: string[] } {
  return {
    signer: `unix:${join(config.runtimeDir, 'signer.sock')}`,
    executors: Array.from({ length: config.executors }, (_, i) => executorAddress(config.runtimeDir, i))
  }
}

/**
 * The executors' own socket folder. Executors may run as another, unprivileged user (see
 * README, "Privilege separation"): this folder is the only place that user may write, so
 * the signer's socket and the public API stay out of its reach.
 */
export function executorSocketDir (runtimeDir: string): string {
  return join(runtimeDir, 'executors')
}

export function executorAddress (runtimeDir: string, index: number): string {
  return `unix:${join(executorSocketDir(runtimeDir), `executor-${index}.sock`)}`
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
