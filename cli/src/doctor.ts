/**
 * `phase doctor [--json]`: the node's own report of what may be wrong (services/discovery/src/
 * doctor.ts): reachability and NAT, addresses, bootstrap peers, DHT, clock skew, key and socket
 * permissions, config warnings, disk and memory headroom. One text an operator can paste into a
 * bug report. Exit 0: nothing wrong; 1: warnings; 2: something is broken; 69: no node answered.
 */
import { connectRaw as connect } from './connect.ts'
import { printable } from './terminal.ts'
import { UsageError, parse } from './usage.ts'

const OPTIONS = { api: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, json: { type: 'boolean' } } as const

/** Exit codes of `phase doctor` by the report's status. */
export const DOCTOR_EXIT = { ok: 0, warn: 1, fail: 2 } as const

interface Report {
  status: keyof typeof DOCTOR_EXIT
  generated_at: string
  node: { peer_id: string, version: string, pid: number, uptime_s: number }
  network: null | {
    reachability: string
    listen_addresses: string[]
    announced_addresses: string[]
    relay_reservations: string[]
    nat: { autonat: string, behind_nat: boolean | null, observed_addresses: string[] }
    bootstrap: Array<{ address: string, reachable: boolean, connected: boolean, error: string | null }>
    peers_connected: number
    dht_routing_table_size: number
    clock: { peers_asked: number, peers_answered: number, median_skew_ms: number | null, max_abs_skew_ms: number | null }
  }
  resources: { disk: null | { path: string, free_bytes: number, needed_bytes: number }, memory: null | { available_bytes: number, needed_bytes: number } }
  checks: Array<{ name: string, status: string, message: string }>
}

export async function doctorCommand (argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS)
  if (positionals.length !== 0) throw new UsageError('doctor takes no arguments')
  const { client, metadata } = connect({ api: values.api as string | undefined, token: values.token as string | undefined, tokenFile: values['token-file'] as string | undefined }, env)
  try {
    // The node's lookups (bootstrap dials, time questions) have deadlines of a few seconds.
    const res = await client.diagnose({}, { metadata, timeoutMs: 20_000 })
    const text = new TextDecoder().decode(res.reportJson)
    const report = JSON.parse(text) as Report
    if (values.json === true) process.stdout.write(JSON.stringify(report, null, 2) + '\n')
    else process.stdout.write(render(report))
    return DOCTOR_EXIT[report.status] ?? DOCTOR_EXIT.fail
  } finally {
    client.close()
  }
}

const mib = (b: number): string => `${Math.round(b / (1024 * 1024))} MiB`

/** The report as text: the checks first (what to act on), then the facts behind them. */
export function render (r: Report): string {
  const lines: string[] = []
  lines.push(`phase doctor: ${r.status.toUpperCase()}  (node ${r.node.peer_id || '-'}, version ${r.node.version}, up ${r.node.uptime_s} s, ${r.generated_at})`)
  lines.push('')
  const width = Math.max(...r.checks.map((c) => c.name.length), 4)
  for (const c of r.checks) lines.push(`  ${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.message}`)
  const n = r.network
  if (n !== null) {
    lines.push('', 'network')
    lines.push(`  reachability   ${n.reachability} (AutoNAT: ${n.nat.autonat}; behind a NAT: ${n.nat.behind_nat === null ? 'unknown' : n.nat.behind_nat ? 'yes' : 'no'})`)
    for (const a of n.listen_addresses) lines.push(`  listen         ${a}`)
    for (const a of n.announced_addresses) lines.push(`  announced      ${a}`)
    for (const a of n.nat.observed_addresses) lines.push(`  observed       ${a}`)
    for (const a of n.relay_reservations) lines.push(`  relay          ${a}`)
    for (const b of n.bootstrap) lines.push(`  bootstrap      ${b.address}  ${b.connected ? 'connected' : b.reachable ? 'reachable' : `unreachable (${b.error ?? '?'})`}`)
    lines.push(`  peers          ${n.peers_connected} connected, ${n.dht_routing_table_size} in the DHT routing table`)
    lines.push(`  clock          ${n.clock.median_skew_ms === null ? 'not compared' : `median skew ${n.clock.median_skew_ms} ms, largest ${n.clock.max_abs_skew_ms} ms, ${n.clock.peers_answered} of ${n.clock.peers_asked} peers answered`}`)
  } else {
    lines.push('', 'network        off')
  }
  lines.push('', 'resources')
  if (r.resources.disk !== null) lines.push(`  disk           ${mib(r.resources.disk.free_bytes)} free under ${r.resources.disk.path}, caches and receipt log up to ${mib(r.resources.disk.needed_bytes)}`)
  if (r.resources.memory !== null) lines.push(`  memory         ${mib(r.resources.memory.available_bytes)} available, jobs and caches up to ${mib(r.resources.memory.needed_bytes)}`)
  // Addresses and messages can hold what peers said: escaped, so they cannot drive the terminal.
  return lines.map((l) => printable(l)).join('\n') + '\n'
}
