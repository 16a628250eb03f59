/**
 * Node configuration: one JSON file validated against schemas/config.schema.json, then env
 * overrides, then embedded defaults; validated once at the edge and frozen. Only process entry
 * points call `loadConfig` (they pass `process.env`); components receive the frozen result.
 */
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidConfigError } from '@phase-network/protocol/errors'
import { configDefault, describeError, messageBudget, validator, type ConfigDefaults } from '@phase-network/protocol/config'

export const DEFAULT_CONFIG_PATH = '/etc/phase/plasmd.json'
/** Every default below is the schema's own (`default` in schemas/config.schema.json), read once. */
export const DEFAULT_HTTP_PORT = configDefault('api.http.port')

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
  /** Largest input file a job may name. Default: DEFAULT_MAX_INPUT_FILE_BYTES (the schema's). */
  readonly maxInputFileBytes?: number
  /** Total bytes of one job's input files. Default: DEFAULT_MAX_INPUT_BYTES (the schema's). */
  readonly maxInputBytes?: number
  /** Fuel cap per job, and a deterministic job's fuel when its manifest names none (absent: DEFAULT_MAX_FUEL). */
  readonly maxFuel?: number
}

export const DEFAULT_MAX_INPUT_FILE_BYTES = configDefault('limits.max_input_file_bytes')
export const DEFAULT_MAX_INPUT_BYTES = configDefault('limits.max_input_bytes')

/**
 * Default fuel cap (10^12 units ≈ wasm instructions). The compute kernels (bench/kernels) use
 * 1–2·10^10 a CPU second, so this is about the default 60 s wall-time cap: it bounds the count,
 * the wall time still bounds the run (a deterministic job should name fuel well within its time).
 */
export const DEFAULT_MAX_FUEL = configDefault('limits.max_fuel')

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
    readonly http: { readonly enabled: boolean, readonly host: string, readonly port: number, readonly socket: string, readonly tcp: boolean, readonly allowedHosts: readonly string[] }
    readonly token: string | null
    /** Where the token came from, when it was read from a file. */
    readonly tokenFile: string | null
    readonly maxBufferedBytes: number
    readonly requestTimeoutMs: number
    readonly headersTimeoutMs: number
    readonly minBytesPerSecond: number
    readonly bodyGraceMs: number
    readonly maxConnections: number
  }
  readonly limits: LimitsConfig
  readonly p2p: P2pConfig
  readonly remote: RemoteConfig
  readonly moduleCache: { readonly memoryBytes: number, readonly diskBytes: number, readonly compiledBytes: number }
  /** Input files cached by hash: a budget of its own beside the module cache. */
  readonly inputCache: { readonly memoryBytes: number, readonly diskBytes: number }
  readonly poisonQuarantineMs: number
  readonly receiptLog: ReceiptLogConfig
  /** The executors' WebAssembly runtime. */
  readonly executorRuntime: 'v8' | 'wasmer'
}

/** Caps of jobs other nodes send here (each never above the node's own limits). */
export interface RemoteConfig {
  readonly maxJobs: number
  /** Fraction of executors × workers remote jobs may hold at once (rounded down). */
  readonly executorShare: number
  readonly maxTimeoutMs: number
  readonly maxMemoryMb: number
}

/** The signer's receipt log (see services/signer/src/receipt-log). */
export interface ReceiptLogConfig {
  readonly maxBytes: number
  readonly segmentBytes: number
  readonly syncIntervalMs: number
  readonly headIntervalMs: number
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
  /** Longest wait for the next message on a job stream from a peer, ms. */
  readonly readTimeoutMs: number
  /** Bytes received from peers and not yet done with, all peers together (one peer: half). */
  readonly maxInflightBytes: number
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
  ['PHASE_API_TOKEN_FILE', ['api', 'token_file'], 'string'],
  ['PHASE_HTTP_TCP', ['api', 'http', 'tcp'], 'boolean'],
  ['PHASE_P2P_ENABLED', ['p2p', 'enabled'], 'boolean'],
  ['PHASE_EXECUTOR_RUNTIME', ['executor_runtime'], 'string']
]

/**
 * Documents the process that started this one validated already: PHASE_CONFIG_VALIDATED, sha256
 * digests of their JSON, comma-separated (ops/ecosystem.config.cjs sets it for the node's
 * processes after validating exactly what they will read). Compiling the schema costs a process
 * ~7 MiB and 100–300 ms (issue 11); a changed file or environment gives another digest and is
 * validated here. The environment is the starter's to set, like NODE_OPTIONS: no trust is added.
 */
const validatedDigests = new Set<string>()

function validate (doc: unknown, where: string, env: LoadConfigOptions['env']): void {
  const digest = digestOf(doc)
  if (digest !== undefined && (validatedDigests.has(digest) || (env.PHASE_CONFIG_VALIDATED ?? '').split(',').includes(digest))) return
  const fn = validator('config')
  if (!fn(doc)) throw new InvalidConfigError(`${where}: ${describeError(fn.errors)}`)
  if (digest !== undefined) validatedDigests.add(digest)
}

/** sha256 of the document's JSON; undefined when it cannot be written (nested past the stack), so it is validated in full. */
function digestOf (doc: unknown): string | undefined {
  try {
    return createHash('sha256').update(JSON.stringify(doc)).digest('hex')
  } catch {
    return undefined
  }
}

/** What to pass as PHASE_CONFIG_VALIDATED: the digests of every document validated here. */
export function validatedConfigDigests (): string {
  return [...validatedDigests].join(',')
}

export interface LoadConfigOptions {
  /** The process environment (only entry points pass process.env). */
  env: Readonly<Record<string, string | undefined>>
  /** Explicit config file; otherwise PHASE_CONFIG, otherwise /etc/phase/plasmd.json if present. */
  file?: string
  /** The user the node runs as (default: this process's); root gets a runtime folder outside its home. */
  uid?: number
  /** Where unset keys' defaults come from. Default: the schema's (`configDefault`); tests pass another schema's. */
  defaults?: ConfigDefaults
  /** Not checked against the schema: only to learn the folders early, before the real load (ops/start.ts). */
  unchecked?: boolean
}

/** Reads, validates, merges and freezes the node configuration. Throws InvalidConfigError. */
export function loadConfig (options: LoadConfigOptions): NodeConfig {
  const { env } = options
  const explicit = options.file ?? env.PHASE_CONFIG
  const path = explicit ?? DEFAULT_CONFIG_PATH
  let raw: Record<string, unknown> = {}
  let source: string | null = null
  let fileMode = 0
  try {
    raw = parseJsonObject(readFileSync(path, 'utf8'), path)
    source = resolve(path)
    fileMode = statSync(path).mode
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || explicit !== undefined) {
      if (err instanceof InvalidConfigError) throw err
      throw new InvalidConfigError(`cannot read config ${path}: ${(err as Error).message}`)
    }
  }
  if (options.unchecked !== true) validate(raw, source ?? 'config', env)
  // A token in a file every local user can read is no secret (the package's conffile is 0644).
  if ((raw.api as Raw | undefined)?.token !== undefined && (fileMode & 0o004) !== 0) {
    throw new InvalidConfigError(`${source ?? path}: holds /api/token but other users can read it (mode ${(fileMode & 0o777).toString(8)}): 'chmod o-r' it, or move the token to the file named by /api/token_file`)
  }
  for (const [name, pointer, type] of ENV_OVERRIDES) {
    const value = env[name]
    if (value === undefined || value === '') continue
    setPath(raw, pointer, parseEnv(name, value, type))
  }
  // A token from the environment replaces the file's token source, and the other way round.
  const api = raw.api as Raw | undefined
  if (api !== undefined && (env.PHASE_API_TOKEN ?? '') !== '') delete api.token_file
  else if (api !== undefined && (env.PHASE_API_TOKEN_FILE ?? '') !== '') delete api.token
  if (options.unchecked !== true) validate(raw, 'config after environment overrides', env)
  return resolveDefaults(raw, source, env, options.uid ?? process.getuid?.(), options.defaults ?? configDefault)
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

function resolveDefaults (raw: Raw, source: string | null, env: LoadConfigOptions['env'], uid: number | undefined, d: ConfigDefaults): NodeConfig {
  const stateHome = env.XDG_STATE_HOME ?? join(env.HOME ?? homedir(), '.local', 'state')
  const stateDir = resolve(raw.state_dir ?? join(stateHome, 'phase'))
  // Started as root, executors run as the unprivileged executor user, who must reach their
  // sockets' folder: root's home (0700) cannot hold it, so root's default is under /run, one
  // folder per state folder (a checkout's node never shares sockets with the package's /run/phase).
  const runtimeDefault = uid === 0 && raw.state_dir === undefined && env.XDG_STATE_HOME === undefined
    ? join('/run', `phase-${createHash('sha256').update(stateDir).digest('hex').slice(0, 8)}`)
    : join(stateDir, 'run')
  const runtimeDir = resolve(raw.runtime_dir ?? runtimeDefault)
  const l: Raw = raw.limits ?? {}
  const limits: LimitsConfig = {
    maxModuleBytes: l.max_module_bytes ?? d('limits.max_module_bytes'),
    maxMemoryMb: l.max_memory_mb ?? d('limits.max_memory_mb'),
    defaultMemoryMb: l.default_memory_mb ?? d('limits.default_memory_mb'),
    maxTimeoutMs: l.max_timeout_ms ?? d('limits.max_timeout_ms'),
    defaultTimeoutMs: l.default_timeout_ms ?? d('limits.default_timeout_ms'),
    maxOutputBytes: l.max_output_bytes ?? d('limits.max_output_bytes'),
    defaultOutputBytes: l.default_output_bytes ?? d('limits.default_output_bytes'),
    maxStdinBytes: l.max_stdin_bytes ?? d('limits.max_stdin_bytes'),
    maxArgsBytes: l.max_args_bytes ?? d('limits.max_args_bytes'),
    maxInputFileBytes: l.max_input_file_bytes ?? d('limits.max_input_file_bytes'),
    maxInputBytes: l.max_input_bytes ?? d('limits.max_input_bytes'),
    maxFuel: l.max_fuel ?? d('limits.max_fuel')
  }
  for (const [def, max, key] of [
    [limits.defaultMemoryMb, limits.maxMemoryMb, 'default_memory_mb'],
    [limits.defaultTimeoutMs, limits.maxTimeoutMs, 'default_timeout_ms'],
    [limits.defaultOutputBytes, limits.maxOutputBytes, 'default_output_bytes']
  ] as const) {
    if (def > max) throw new InvalidConfigError(`config: /limits/${key} (${def}) is above /limits/${key.replace('default_', 'max_')} (${max})`)
  }
  const rl: Raw = raw.receipt_log ?? {}
  const receiptLog: ReceiptLogConfig = {
    maxBytes: rl.max_bytes ?? d('receipt_log.max_bytes'),
    segmentBytes: rl.segment_bytes ?? d('receipt_log.segment_bytes'),
    syncIntervalMs: rl.sync_interval_ms ?? d('receipt_log.sync_interval_ms'),
    headIntervalMs: rl.head_interval_ms ?? d('receipt_log.head_interval_ms')
  }
  if (receiptLog.maxBytes < 2 * receiptLog.segmentBytes) {
    throw new InvalidConfigError(`config: /receipt_log/max_bytes (${receiptLog.maxBytes}) must be at least 2 × /receipt_log/segment_bytes (${receiptLog.segmentBytes})`)
  }
  const http = {
    enabled: raw.api?.http?.enabled ?? d('api.http.enabled'),
    host: raw.api?.http?.host ?? d('api.http.host'),
    port: raw.api?.http?.port ?? d('api.http.port'),
    socket: raw.api?.http?.socket ?? join(runtimeDir, 'plasmd-http.sock'),
    tcp: raw.api?.http?.tcp ?? d('api.http.tcp'),
    allowedHosts: raw.api?.http?.allowed_hosts ?? d('api.http.allowed_hosts')
  }
  if (raw.api?.token !== undefined && raw.api?.token_file !== undefined) {
    throw new InvalidConfigError('config: /api/token and /api/token_file exclude each other')
  }
  const tokenFile: string | null = raw.api?.token_file ?? null
  const token: string | null = raw.api?.token ?? (tokenFile === null ? null : readTokenFile(tokenFile))
  if (http.enabled && http.tcp && !isLoopback(http.host) && token === null) {
    throw new InvalidConfigError(`config: /api/http/host '${http.host}' is not loopback, so /api/token or /api/token_file is required`)
  }
  // Asking for the TCP port on purpose (the package turns it off) opens the API to every local
  // user, past the unix socket's group: only with a token. (The embedded default keeps the port
  // for a development checkout, a single user's machine.)
  if (http.enabled && raw.api?.http?.tcp === true && token === null) {
    throw new InvalidConfigError('config: /api/http/tcp is true, so /api/token or /api/token_file is required (any local user can reach a TCP port)')
  }
  const grpcAddress: string = raw.api?.grpc ?? `unix:${join(runtimeDir, 'plasmd.sock')}`
  if (!grpcAddress.startsWith('unix:') && !isLoopback(grpcAddress.slice(0, grpcAddress.lastIndexOf(':'))) && token === null) {
    throw new InvalidConfigError(`config: /api/grpc '${grpcAddress}' is not loopback, so /api/token or /api/token_file is required`)
  }
  const headersTimeoutMs: number = raw.api?.headers_timeout_ms ?? d('api.headers_timeout_ms')
  const requestTimeoutMs: number = raw.api?.request_timeout_ms ?? d('api.request_timeout_ms')
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new InvalidConfigError(`config: /api/headers_timeout_ms (${headersTimeoutMs}) is above /api/request_timeout_ms (${requestTimeoutMs})`)
  }
  // The budget holds at least one job without input files; bigger sets of files travel alone (PUT /v1/blobs).
  const largestRequest = messageBudget(limits).httpJobWithoutInputs
  return deepFreeze({
    source,
    stateDir,
    runtimeDir,
    logLevel: raw.log_level ?? d('log_level'),
    executors: raw.executors ?? d('executors'),
    workersPerExecutor: raw.workers_per_executor ?? d('workers_per_executor'),
    queueCapacity: raw.queue_capacity ?? d('queue_capacity'),
    api: {
      grpc: grpcAddress,
      http,
      token,
      tokenFile,
      maxBufferedBytes: raw.api?.max_buffered_bytes ?? Math.max(d('api.max_buffered_bytes'), largestRequest),
      requestTimeoutMs,
      headersTimeoutMs,
      minBytesPerSecond: raw.api?.min_bytes_per_second ?? d('api.min_bytes_per_second'),
      bodyGraceMs: raw.api?.body_grace_ms ?? d('api.body_grace_ms'),
      maxConnections: raw.api?.max_connections ?? d('api.max_connections')
    },
    limits,
    p2p: {
      enabled: raw.p2p?.enabled ?? d('p2p.enabled'),
      listen: raw.p2p?.listen ?? d('p2p.listen'),
      bootstrap: raw.p2p?.bootstrap ?? d('p2p.bootstrap'),
      mdns: raw.p2p?.mdns ?? d('p2p.mdns'),
      relayServer: raw.p2p?.relay_server ?? d('p2p.relay_server'),
      upnp: raw.p2p?.upnp ?? d('p2p.upnp'),
      privateAddresses: raw.p2p?.private_addresses ?? d('p2p.private_addresses'),
      maxConnections: raw.p2p?.max_connections ?? d('p2p.max_connections'),
      inboundPerSecond: raw.p2p?.inbound_per_second ?? d('p2p.inbound_per_second'),
      maxRemoteJobs: raw.p2p?.max_remote_jobs ?? d('p2p.max_remote_jobs'),
      perPeerConcurrency: raw.p2p?.per_peer_concurrency ?? d('p2p.per_peer_concurrency'),
      perPeerPerSecond: raw.p2p?.per_peer_jobs_per_second ?? d('p2p.per_peer_jobs_per_second'),
      readTimeoutMs: raw.p2p?.read_timeout_ms ?? d('p2p.read_timeout_ms'),
      maxInflightBytes: raw.p2p?.max_inflight_bytes ?? d('p2p.max_inflight_bytes')
    },
    remote: {
      maxJobs: raw.remote?.max_jobs ?? d('remote.max_jobs'),
      executorShare: raw.remote?.executor_share ?? d('remote.executor_share'),
      maxTimeoutMs: Math.min(raw.remote?.max_timeout_ms ?? d('remote.max_timeout_ms'), limits.maxTimeoutMs),
      maxMemoryMb: Math.min(raw.remote?.max_memory_mb ?? d('remote.max_memory_mb'), limits.maxMemoryMb)
    },
    moduleCache: {
      memoryBytes: raw.module_cache?.memory_bytes ?? d('module_cache.memory_bytes'),
      diskBytes: raw.module_cache?.disk_bytes ?? d('module_cache.disk_bytes'),
      compiledBytes: raw.module_cache?.compiled_bytes ?? d('module_cache.compiled_bytes')
    },
    inputCache: {
      memoryBytes: raw.input_cache?.memory_bytes ?? d('input_cache.memory_bytes'),
      diskBytes: raw.input_cache?.disk_bytes ?? d('input_cache.disk_bytes')
    },
    poisonQuarantineMs: raw.poison_quarantine_ms ?? d('poison_quarantine_ms'),
    receiptLog,
    executorRuntime: raw.executor_runtime ?? d('executor_runtime')
  })
}

/**
 * The API token from `path`: its first line, trimmed. The file must not be readable by other
 * users (group is fine: the package's 'phase' group may already use the API socket).
 */
function readTokenFile (path: string): string {
  let text: string
  let mode: number
  try {
    mode = statSync(path).mode
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new InvalidConfigError(`config: /api/token_file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if ((mode & 0o007) !== 0) {
    throw new InvalidConfigError(`config: /api/token_file: other users can read ${path} (mode ${(mode & 0o777).toString(8)}): 'chmod o-rwx' it`)
  }
  const token = text.split('\n', 1)[0]!.trim()
  if (token.length < 16) throw new InvalidConfigError(`config: /api/token_file: ${path} must hold a token of at least 16 characters on its first line`)
  return token
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
