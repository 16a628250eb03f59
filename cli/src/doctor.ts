/**
 * `phase doctor [--json]`: the node's own report of what may be wrong (services/discovery/src/
 * doctor.ts): reachability and NAT, addresses, bootstrap peers, DHT, clock skew, key and socket
 * permissions, config warnings, disk and memory headroom. One text an operator can paste into a
 * bug report. Exit 0: nothing wrong; 1: warnings; 2: something is broken; 69: no node answered.
 */
import type { DoctorReport } from '@phase-network/sdk'
import { connect, type NodeOptions } from './connect.ts'
import { printable } from './terminal.ts'
import { UsageError, parse } from './usage.ts'

/** Exit codes of `phase doctor` by the report's status. */
export const DOCTOR_EXIT = { ok: 0, warn: 1, fail: 2 } as const
/** The node's lookups inside (bootstrap dials, time questions) have deadlines of a few seconds. */
const CALL_MS = 20_000

export async function doctorCommand (argv: string[], env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } })
  if (positionals.length !== 0) throw new UsageError('doctor takes no arguments')
  const client = connect(node, env, { timeoutMs: CALL_MS })
  try {
    const report = await client.diagnose()
    if (values.json === true) process.stdout.write(JSON.stringify(report, null, 2) + '\n')
    else process.stdout.write(render(report))
    return DOCTOR_EXIT[report.status] ?? DOCTOR_EXIT.fail
  } finally {
    client.close()
  }
}

const mib = (b: number): string => `${Math.round(b / (1024 * 1024))} MiB`

/** The report as text: the checks first (what to act on), then the facts behind them. */
export function render (r: DoctorReport): string {
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
