/**
 * Network rows of the bench (DESIGN §7): a remote warm job over QUIC and over TCP on loopback
 * beside a bare libp2p request/response on the same transport, and the time to find a provider
 * in a 20- and a 50-node private DHT of the node's own network code (quick: 20 only) beside a
 * bare round trip, with FindExecutors before and after churn.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from '../test/helpers/node-harness.ts'
import { bareLibp2pRoundTrips, type Transport } from './network-floor.ts'
import { remoteJobFigures } from './network-remote.ts'
import { clusterFigures } from './network-dht-cluster.ts'
import { QUIC_IDLE_TIMEOUT_MS } from '../services/discovery/src/p2p/host.ts'
import { median, percentile, fmtMs, type Row } from './stats.ts'

/** DESIGN's budget for a remote warm job above a bare libp2p round trip. */
const REMOTE_BUDGET_MS = 1.5
const DHT_TARGET_MS = 150

export async function networkRows (quick: boolean): Promise<Row[]> {
  const rows: Row[] = []
  const row = (metric: string, value: string, floor = '', ratio = '', target = ''): void => { rows.push({ metric, value, floor, ratio, target }) }
  const x = (value: number, floor: number): string => `${(value / floor).toFixed(1)}×`
  const n = quick ? 200 : 1000
  const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
  const rt: Partial<Record<Transport, number>> = {}

  for (const transport of ['quic', 'tcp'] as const) {
    process.stderr.write(`remote jobs over ${transport}…\n`)
    const bare = await bareLibp2pRoundTrips(transport, n)
    const f = await remoteJobFigures(transport, hello, ['Hello, World'], n)
    const floor = median(bare)
    rt[transport] = floor
    const remote = median(f.remote)
    const local = median(f.localOnA)
    const T = transport.toUpperCase()
    row(`remote warm job p50, ${T} (B's API → A by PeerId, hash only)`, fmtMs(remote), `${fmtMs(floor)} bare libp2p rt`, x(remote, floor), `≤ ${fmtMs(floor + REMOTE_BUDGET_MS)} (rt + 1.5 ms)`)
    row(`remote warm job p99, ${T}`, fmtMs(percentile(f.remote, 99)), `${fmtMs(percentile(bare, 99))} rt p99`, '', '')
    row(`  local warm job p50 on A (A's API)`, fmtMs(local), '', '', '')
    row('  remote beside A\'s local job + bare rt', fmtMs(remote), fmtMs(local + floor), x(remote, local + floor), '')
    row('  job protocol straight to A (bare host, no B)', fmtMs(median(f.direct)), fmtMs(local + floor), x(median(f.direct), local + floor), '')
    row('  B\'s receipt check alone (@noble, all checks)', fmtMs(median(f.verify)), '', '', '')
    if (f.seen !== transport) row(`  (B reached A over ${f.seen}, not ${transport})`, '', '', '', '')
  }

  for (const size of quick ? [20] : [20, 50]) {
    process.stderr.write(`DHT of ${size} nodes (the node's PhaseNetwork, 5 per process)…\n`)
    const d = await clusterFigures(size, 5, 3, quick ? 2 : 3)
    const floor = rt.quic!
    const pct = (v: number): string => `${Math.round(v / (size - 1) * 100)}%`
    const p5090 = (v: number[]): string => v.length === 0 ? '–' : `${fmtMs(median(v))} / ${fmtMs(percentile(v, 90))}`
    row(`DHT, ${size} nodes in ${d.processes} processes: routing table min / median after ${(d.fillMs / 1000).toFixed(1)} s`, `${d.tableMin} / ${d.tableMedian} of ${size - 1} (${pct(d.tableMedian)})`, '', '', 'median ≥ 90%')
    row('  connections per connected pair', d.perPair.toFixed(2), '', '', '1')
    if (d.network.length > 0) {
      row(`  provider lookups that left the node (${d.network.length}), p50 / p90`, p5090(d.network), `${fmtMs(floor)} bare QUIC rt`, x(median(d.network), floor), `≤ ${DHT_TARGET_MS} ms (FACTS: 52 ms at 50)`)
    } else {
      row('  every looker held the record (k = 20 ≥ n − 1)', '', '', '', '')
    }
    row(`  all provider lookups (${d.lookups.length}) p50; found nothing in 10 s`, `${fmtMs(median(d.lookups))}; ${d.failures}`, '', '', '')
    row('  provide() p50', fmtMs(median(d.provide)), '', '', '')
    row(`  FindExecutors on every node (${d.find.length}), p50 / p90`, p5090(d.find), '', '', '')
    row('  churn: 3 nodes SIGKILLed; gone from FindExecutors of a node connected to them after', d.goneMs < 0 ? 'never (60 s)' : fmtMs(d.goneMs), `${QUIC_IDLE_TIMEOUT_MS} ms QUIC idle timeout`, '', 'seconds')
    row(`  after churn: FindExecutors p50 / p90; answers naming a dead node`, `${p5090(d.findAfter)}; ${d.deadReturned}`, '', '', '0')
    if (d.networkAfter.length > 0) row('  after churn: provider lookups that left the node, p50 / p90', p5090(d.networkAfter), `${fmtMs(floor)} bare QUIC rt`, x(median(d.networkAfter), floor), `≤ ${DHT_TARGET_MS} ms`)
    row('  FindExecutors on a node that joined after the kill', fmtMs(d.lateJoiner), '', '', '')
  }
  return rows
}
