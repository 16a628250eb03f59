/**
 * `phase doctor`: one report an operator can paste into a bug report. The node writes it (it
 * knows its configuration, files and network); the CLI prints it and exits 0 (nothing wrong),
 * 1 (warnings) or 2 (something is broken). Each finding is a check with a status; the report's
 * status is the worst of them. Its shape is `schemas/doctor-report.schema.json`.
 *
 * Reads only: file modes (never contents), statfs of the state folder, /proc/meminfo, and the
 * network's own view (p2p/diagnostics.ts). Paths are the operator's own configuration.
 */
import { stat, statfs, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { NodeConfig } from '@phase-network/process'
import { internalAddresses } from '@phase-network/process'
import type { NetworkReport } from './p2p/index.ts'
import { IDENTITY_FILE } from './identity.ts'

export const DOCTOR_REPORT_VERSION = 1
/** Clock skew against peers that is worth a warning (receipts carry times; records expire). */
export const SKEW_WARN_MS = 30_000
/** Clock skew that breaks things: capability records (10 min) look expired or not yet valid. */
export const SKEW_FAIL_MS = 5 * 60_000
/** Identity and receipt keys in the state folder (discovery's and the signer's). */
export const KEY_FILES = { identity: IDENTITY_FILE, receipt: 'receipt-key.json' } as const

export type CheckStatus = 'ok' | 'warn' | 'fail'

export interface DoctorCheck {
  name: string
  status: CheckStatus
  message: string
}

export interface FileReport {
  what: string
  path: string
  exists: boolean
  mode: string | null
  uid: number | null
  /** Mode of the folder holding it: who may reach a socket is decided by both. */
  dir_mode: string | null
}

export interface DoctorReport {
  version: number
  generated_at: string
  status: CheckStatus
  node: { peer_id: string, version: string, pid: number, uptime_s: number }
  network: NetworkReport | null
  files: FileReport[]
  config: { source: string | null, warnings: string[] }
  resources: {
    disk: { path: string, free_bytes: number, total_bytes: number, needed_bytes: number } | null
    memory: { available_bytes: number, total_bytes: number, needed_bytes: number } | null
  }
  checks: DoctorCheck[]
}

export interface DoctorComponents {
  config: NodeConfig
  /** The network's view; absent when p2p is off. */
  network?: { diagnose: (options: { signal?: AbortSignal }) => Promise<NetworkReport> }
  info: () => Promise<{ peerId: string, version: string }>
  /** Where the config came from (a file path), for the report. */
  configSource?: string | null
}

export async function diagnose (c: DoctorComponents, options: { signal?: AbortSignal } = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = []
  const config = c.config
  const info = await c.info()
  const [network, files, disk, memory] = await Promise.all([
    c.network === undefined ? Promise.resolve(null) : c.network.diagnose(options).catch((err: Error) => { checks.push({ name: 'network', status: 'fail', message: `the network's report failed: ${err.message}` }); return null }),
    fileReports(config),
    diskReport(config),
    memoryReport(config)
  ])
  const warnings = configWarnings(config)
  checks.push(...networkChecks(config, network))
  checks.push(...fileChecks(files))
  for (const w of warnings) checks.push({ name: 'config', status: 'warn', message: w })
  if (disk !== null) {
    checks.push(disk.free_bytes < disk.needed_bytes
      ? { name: 'disk', status: disk.free_bytes < disk.needed_bytes / 4 ? 'fail' : 'warn', message: `${mib(disk.free_bytes)} free under ${disk.path}; the caches and receipt log may take ${mib(disk.needed_bytes)}` }
      : { name: 'disk', status: 'ok', message: `${mib(disk.free_bytes)} free under ${disk.path} (caches and receipt log need at most ${mib(disk.needed_bytes)})` })
  }
  if (memory !== null) {
    checks.push(memory.available_bytes < memory.needed_bytes
      ? { name: 'memory', status: 'warn', message: `${mib(memory.available_bytes)} available; jobs at their memory cap on every worker, plus the caches, may take ${mib(memory.needed_bytes)}` }
      : { name: 'memory', status: 'ok', message: `${mib(memory.available_bytes)} available (jobs at their cap on every worker plus caches: ${mib(memory.needed_bytes)})` })
  }
  return {
    version: DOCTOR_REPORT_VERSION,
    generated_at: new Date().toISOString(),
    status: worst(checks.map((x) => x.status)),
    node: { peer_id: info.peerId, version: info.version, pid: process.pid, uptime_s: Math.round(process.uptime()) },
    network,
    files,
    config: { source: c.configSource ?? null, warnings },
    resources: { disk, memory },
    checks
  }
}

export function worst (statuses: readonly CheckStatus[]): CheckStatus {
  return statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'ok'
}

function mib (bytes: number): string { return `${(bytes / (1024 * 1024)).toFixed(0)} MiB` }

/** What the network report says, as checks. */
export function networkChecks (config: NodeConfig, n: NetworkReport | null): DoctorCheck[] {
  if (!config.p2p.enabled) return [{ name: 'network', status: 'ok', message: 'p2p is off (p2p.enabled): this node runs local jobs only' }]
  if (n === null) return []
  const out: DoctorCheck[] = []
  const where = n.nat.behind_nat === true ? ` (peers see it at ${n.nat.observed_addresses.join(', ')}; it listens on ${n.listen_addresses.join(', ')})` : ''
  switch (n.reachability) {
    case 'public': out.push({ name: 'reachability', status: 'ok', message: 'public: peers can dial this node directly' }); break
    case 'relayed': out.push({ name: 'reachability', status: 'warn', message: `relayed: behind a NAT${where}, reachable only through relay reservations (${n.relay_reservations.length})` }); break
    case 'private': out.push({ name: 'reachability', status: 'warn', message: n.nat.behind_nat === true ? `private: behind a NAT${where}; peers cannot dial in (add a relay: p2p.listen '<relay>/p2p-circuit', or forward a port / p2p.upnp)` : 'private: only private addresses; peers outside this network cannot dial in' }); break
    case 'offline': out.push({ name: 'reachability', status: 'fail', message: 'offline: no address to be reached at and no connection' }); break
  }
  if (n.listen_addresses.length === 0) out.push({ name: 'listen', status: 'fail', message: 'p2p is on but the node listens on no address (p2p.listen)' })
  const down = n.bootstrap.filter((b) => !b.reachable)
  if (n.bootstrap.length > 0) {
    out.push(down.length === n.bootstrap.length
      ? { name: 'bootstrap', status: 'fail', message: `no bootstrap peer is reachable (${down.map((b) => `${b.address}: ${b.error ?? 'unreachable'}`).join('; ')})` }
      : down.length > 0
        ? { name: 'bootstrap', status: 'warn', message: `${down.length} of ${n.bootstrap.length} bootstrap peers unreachable: ${down.map((b) => b.address).join(', ')}` }
        : { name: 'bootstrap', status: 'ok', message: `${n.bootstrap.length} bootstrap peer(s) reachable` })
  }
  out.push(n.peers_connected === 0
    ? { name: 'peers', status: 'warn', message: 'no peer connected' + (n.bootstrap.length === 0 && !config.p2p.mdns ? ': no bootstrap list and mDNS off, so this node finds none by itself' : '') }
    : { name: 'peers', status: 'ok', message: `${n.peers_connected} peer(s) connected` })
  out.push(n.dht_routing_table_size === 0
    ? { name: 'dht', status: 'warn', message: 'the DHT routing table is empty: lookups (FindExecutors, remote jobs by requirement) have nobody to ask' }
    : { name: 'dht', status: 'ok', message: `${n.dht_routing_table_size} peer(s) in the DHT routing table` })
  const skew = n.clock.max_abs_skew_ms
  if (skew === null) out.push({ name: 'clock', status: 'ok', message: n.clock.peers_asked === 0 ? 'no peer to compare clocks with' : 'no peer answered the time question' })
  else if (Math.abs(n.clock.median_skew_ms!) >= SKEW_FAIL_MS) out.push({ name: 'clock', status: 'fail', message: `this clock is ${Math.round(-n.clock.median_skew_ms! / 1000)} s off the peers' median: capability records look expired or not yet valid (check NTP)` })
  else if (Math.abs(n.clock.median_skew_ms!) >= SKEW_WARN_MS) out.push({ name: 'clock', status: 'warn', message: `this clock is ${Math.round(-n.clock.median_skew_ms! / 1000)} s off the peers' median (check NTP)` })
  else out.push({ name: 'clock', status: 'ok', message: `within ${Math.abs(n.clock.median_skew_ms!)} ms of ${n.clock.peers_answered} peer(s) (largest ${skew} ms)` })
  return out
}

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0')

async function fileReport (what: string, path: string): Promise<FileReport> {
  const dirMode = await stat(dirname(path)).then((d) => octal(d.mode), () => null)
  try {
    const s = await stat(path)
    return { what, path, exists: true, mode: octal(s.mode), uid: s.uid, dir_mode: dirMode }
  } catch {
    return { what, path, exists: false, mode: null, uid: null, dir_mode: dirMode }
  }
}

async function fileReports (config: NodeConfig): Promise<FileReport[]> {
  const internal = internalAddresses(config)
  const unix = (a: string): string | undefined => a.startsWith('unix:') ? a.slice('unix:'.length) : undefined
  const entries: Array<[string, string | undefined]> = [
    ['state_dir', config.stateDir],
    ['identity_key', join(config.stateDir, KEY_FILES.identity)],
    ['receipt_key', join(config.stateDir, KEY_FILES.receipt)],
    ['public_grpc_socket', unix(config.api.grpc)],
    ['public_http_socket', config.api.http.enabled ? config.api.http.socket ?? undefined : undefined],
    ['signer_socket', unix(internal.signer)],
    ...internal.executors.map((a, i): [string, string | undefined] => [`executor_${i}_socket`, unix(a)]),
    ['token_file', config.api.tokenFile ?? undefined]
  ]
  return await Promise.all(entries.filter((e): e is [string, string] => e[1] !== undefined).map(async ([what, path]) => await fileReport(what, path)))
}

/** Secrets must be the owner's alone; the public sockets are for the node's group; internal ones for the owner. */
export function fileChecks (files: readonly FileReport[]): DoctorCheck[] {
  const out: DoctorCheck[] = []
  const mode = (f: FileReport): number => parseInt(f.mode ?? '0', 8)
  for (const f of files) {
    if (!f.exists) {
      out.push({ name: `files.${f.what}`, status: f.what === 'public_http_socket' ? 'warn' : 'fail', message: `${f.path} does not exist` })
      continue
    }
    const m = mode(f)
    if (f.what === 'identity_key' || f.what === 'receipt_key' || f.what === 'token_file') {
      out.push((m & 0o077) !== 0
        ? { name: `files.${f.what}`, status: 'fail', message: `${f.path} has mode ${f.mode}: other users can read a secret ('chmod 600' it)` }
        : { name: `files.${f.what}`, status: 'ok', message: `${f.path} is ${f.mode}` })
    } else if (f.what === 'signer_socket' || f.what.startsWith('executor_')) {
      // Connecting to a unix socket takes write on it and search on its folder. The signer's is
      // the owner's alone; the executors' sockets are open (0666) in a folder only the node user
      // and the executor group may enter (ops/prepare.ts), so only "others" matter there.
      const dir = parseInt(f.dir_mode ?? '0', 8)
      const group = f.what === 'signer_socket' && (m & 0o020) !== 0 && (dir & 0o010) !== 0
      const others = (m & 0o002) !== 0 && (dir & 0o001) !== 0
      out.push(group || others
        ? { name: `files.${f.what}`, status: 'fail', message: `${f.path} has mode ${f.mode} in a folder of mode ${f.dir_mode ?? '?'}: ${others ? 'any local user' : 'the group'} can ask the ${f.what.startsWith('signer') ? 'signer to sign' : 'executor to run'}` }
        : { name: `files.${f.what}`, status: 'ok', message: `${f.path} is ${f.mode} (folder ${f.dir_mode ?? '?'})` })
    } else if (f.what.startsWith('public_')) {
      out.push((m & 0o002) !== 0
        ? { name: `files.${f.what}`, status: 'warn', message: `${f.path} has mode ${f.mode}: every local user can submit jobs` }
        : { name: `files.${f.what}`, status: 'ok', message: `${f.path} is ${f.mode}` })
    } else if (f.what === 'state_dir') {
      out.push((m & 0o022) !== 0
        ? { name: 'files.state_dir', status: 'fail', message: `${f.path} has mode ${f.mode}: other users can write the node's state` }
        : { name: 'files.state_dir', status: 'ok', message: `${f.path} is ${f.mode}` })
    }
  }
  return out
}

/** Settings that are valid but likely not what the operator meant. */
export function configWarnings (config: NodeConfig): string[] {
  const out: string[] = []
  const p2p = config.p2p
  if (p2p.enabled) {
    const listen = p2p.listen.join(' ')
    if (p2p.listen.length > 0 && p2p.listen.every((a) => /\/ip4\/127\.|\/ip6\/::1\//.test(a))) out.push(`p2p.listen has loopback addresses only (${listen}): peers on other hosts cannot reach this node`)
    if (p2p.bootstrap.length === 0 && !p2p.mdns) out.push('p2p.bootstrap is empty and p2p.mdns is off: this node finds no peer by itself')
    if (p2p.upnp) out.push('p2p.upnp is on: the node asks the router to forward a port (multicast on the LAN)')
  }
  if (config.api.http.enabled && !/^(127\.|::1$|localhost$)/.test(config.api.http.host)) out.push(`api.http.host is ${config.api.http.host}: the HTTP API is reachable beyond this machine (with the API token)`)
  return out
}

async function diskReport (config: NodeConfig): Promise<DoctorReport['resources']['disk']> {
  try {
    const s = await statfs(config.stateDir)
    const needed = config.moduleCache.diskBytes + config.inputCache.diskBytes + config.receiptLog.maxBytes
    return { path: config.stateDir, free_bytes: s.bavail * s.bsize, total_bytes: s.blocks * s.bsize, needed_bytes: needed }
  } catch {
    return null
  }
}

async function memoryReport (config: NodeConfig): Promise<DoctorReport['resources']['memory']> {
  try {
    const meminfo = await readFile('/proc/meminfo', 'utf8')
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? NaN) * 1024
    const needed = config.executors * (config.workersPerExecutor * config.limits.maxMemoryMb * 1024 * 1024 + config.moduleCache.compiledBytes) + config.moduleCache.memoryBytes + config.inputCache.memoryBytes
    const available = kib('MemAvailable')
    if (!Number.isFinite(available)) return null
    return { available_bytes: available, total_bytes: kib('MemTotal'), needed_bytes: needed }
  } catch {
    return null
  }
}
