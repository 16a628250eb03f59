/**
 * Network rows of the bench (DESIGN §7): a remote warm job over QUIC and over TCP on loopback
 * beside a bare libp2p request/response on the same transport, and the time to find a provider
 * in a 20- and a 50-node private DHT (quick: 20 only) beside a bare round trip.
 */
import type { Transport } from './network-floor.ts'
import { remoteRows } from './network-remote.ts'
import { dhtFigures } from './network-dht.ts'
import { median, percentile, fmtMs, type Row } from './stats.ts'

const DHT_TARGET_MS = 150

export async function networkRows (quick: boolean): Promise<Row[]> {
  const rows: Row[] = []
  const row = (metric: string, value: string, floor = '', ratio = '', target = ''): void => { rows.push({ metric, value, floor, ratio, target }) }
  const x = (value: number, floor: number): string => `${(value / floor).toFixed(1)}×`
  const rt: Partial<Record<Transport, number>> = {}

  for (const r of await remoteRows(quick, rt)) rows.push(r)

  for (const size of quick ? [20] : [20, 50]) {
    process.stderr.write(`DHT of ${size} nodes…\n`)
    const d = await dhtFigures(size, quick ? 3 : 5)
    // A lookup that leaves the node needs at least one request/response; the DHT dials TCP.
    const floor = rt.tcp!
    const conns = Object.entries(d.transports).map(([k, v]) => `${v} ${k}`).join(' / ')
    row(`DHT: find a provider, ${size} nodes, p50 of ${d.lookups.length}`, fmtMs(median(d.lookups)), '', '', size === 50 ? `≤ ${DHT_TARGET_MS} ms` : '')
    if (d.network.length > 0) {
      const net = median(d.network)
      row(`  lookups that left the node (${d.network.length}), p50 / p90`, `${fmtMs(net)} / ${fmtMs(percentile(d.network, 90))}`, `${fmtMs(floor)} bare TCP rt`, x(net, floor), '')
    } else {
      row('  every looker held the record (k = 20 ≥ n − 1)', '', '', '', '')
    }
    if (d.failures > 0) row('  lookups that found nothing in 10 s', String(d.failures), '', '', '')
    row('  provide() p50', fmtMs(median(d.provide)), '', '', '')
    row(`  routing tables ${d.filled ? 'full' : 'stalled'} after ${(d.fillMs / 1000).toFixed(1)} s (peers min / median)`, `${d.tableMin} / ${d.tableMedian} of ${size - 1}`, '', '', '')
    row(`  memory per host; connections: ${conns}`, `${d.mibPerNode.toFixed(1)} MiB`, '', '', '')
  }
  return rows
}
