/**
 * Network rows of the bench (DESIGN §7): a remote warm job over QUIC and over TCP on loopback
 * beside a bare libp2p request/response on the same transport (network-remote.ts), and the time
 * to find a provider in a 20- and a 50-node private DHT of the node's own network code (quick: 20
 * only) beside a bare round trip, with FindExecutors before and after churn.
 */
import type { Transport } from './network-floor.ts'
import { remoteRows } from './network-remote.ts'
import { clusterFigures } from './network-dht-cluster.ts'
import { QUIC_IDLE_TIMEOUT_MS } from '../services/discovery/src/p2p/host.ts'
import { median, percentile, fmtMs, type Row } from './stats.ts'

const DHT_TARGET_MS = 150

export async function networkRows (quick: boolean): Promise<Row[]> {
  const rows: Row[] = []
  const row = (metric: string, value: string, floor = '', ratio = '', target = ''): void => { rows.push({ metric, value, floor, ratio, target }) }
  const x = (value: number, floor: number): string => `${(value / floor).toFixed(1)}×`
  const rt: Partial<Record<Transport, number>> = {}

  for (const r of await remoteRows(quick, rt)) rows.push(r)

  for (const size of quick ? [20] : [20, 50]) {
    process.stderr.write(`DHT of ${size} nodes (the node's PhaseNetwork, 5 per process)…\n`)
    const d = await clusterFigures(size, 5, 3, quick ? 2 : 3)
    const floor = rt.quic!
    const pct = (v: number): string => `${Math.round(v / (size - 1) * 100)}%`
    const p5090 = (v: number[]): string => v.length === 0 ? '–' : `${fmtMs(median(v))} / ${fmtMs(percentile(v, 90))}`
    row(`DHT, ${size} nodes in ${d.processes} processes: routing table min / median after ${(d.fillMs / 1000).toFixed(1)} s`, `${d.tableMin} / ${d.tableMedian} of ${size - 1} (${pct(d.tableMedian)})`, '', '', 'median ≥ 90%')
    row('  connections per connected pair', d.perPair.toFixed(2), '', '', '1')
    row('  then until every process\'s event loop p99 < 100 ms (the join\'s work, n nodes on this machine\'s cores)', `${(d.settleMs / 1000).toFixed(1)} s`, '', '', '')
    if (d.network.length > 0) {
      row(`  provider lookups that left the node (${d.network.length}), p50 / p90`, p5090(d.network), `${fmtMs(floor)} bare QUIC rt`, x(median(d.network), floor), `≤ ${DHT_TARGET_MS} ms (FACTS: 52 ms at 50)`)
    } else {
      row('  every looker held the record (k = 20 ≥ n − 1)', '', '', '', '')
    }
    row(`  all provider lookups (${d.lookups.length}) p50; found nothing in 10 s`, `${fmtMs(median(d.lookups))}; ${d.failures}`, '', '', '')
    row(`  provide() p50 / max (${d.provide.length})`, d.provide.length === 0 ? '–' : `${fmtMs(median(d.provide))} / ${fmtMs(Math.max(...d.provide))}`, '', '', '')
    row(`  FindExecutors on every node (${d.find.length}), p50 / p90`, p5090(d.find), '', '', '')
    row('  churn: 3 nodes SIGKILLed; gone from FindExecutors of a node connected to them after', d.goneMs < 0 ? 'never (60 s)' : fmtMs(d.goneMs), `${QUIC_IDLE_TIMEOUT_MS} ms QUIC idle timeout`, '', 'seconds')
    row('  churn: … gone from FindExecutors of every surviving node after', d.goneAllMs < 0 ? 'never (60 s)' : fmtMs(d.goneAllMs), `${QUIC_IDLE_TIMEOUT_MS} ms QUIC idle timeout`, '', 'seconds')
    row(`  FindExecutors p50 / p90 as the first node found them gone; answers naming a dead node then`, `${p5090(d.findAfter)}; ${d.deadReturned}`, '', '', '')
    if (d.networkAfter.length > 0) row('  after churn: provider lookups that left the node, p50 / p90', p5090(d.networkAfter), `${fmtMs(floor)} bare QUIC rt`, x(median(d.networkAfter), floor), `≤ ${DHT_TARGET_MS} ms`)
    row('  FindExecutors on a node that joined after the kill', fmtMs(d.lateJoiner), '', '', '')
  }
  return rows
}
