/**
 * The DHT figures alone: `node bench/dht.ts [n] [per-process]` runs the node's own network code
 * at n nodes over child processes (as `npm run bench` does); `--one-process` runs bare libp2p
 * hosts in this process instead, with the node's DHT settings, or kad-dht's defaults as the
 * node used them before with `--defaults` (for a before/after in the same run). Prints JSON.
 */
import { clusterFigures } from './network-dht-cluster.ts'
import { dhtFigures } from './network-dht.ts'
import { median, percentile } from './stats.ts'

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const n = Number(args[0] ?? 50)
const r = (x: number[]): string => x.length === 0 ? '–' : `${median(x).toFixed(1)} / ${percentile(x, 90).toFixed(1)} (${x.length})`
const t = performance.now()
if (process.argv.includes('--one-process')) {
  const tuned = !process.argv.includes('--defaults')
  const d = await dhtFigures(n, 3, { tuned })
  console.log(JSON.stringify({ n, tuned, fillMs: Math.round(d.fillMs), min: d.tableMin, median: d.tableMedian, perPair: d.perPair.toFixed(2), lookups: r(d.lookups), network: r(d.network), failures: d.failures, transports: d.transports, seconds: Math.round((performance.now() - t) / 1000) }))
} else {
  const f = await clusterFigures(n, Number(args[1] ?? 5))
  console.log(JSON.stringify({ n, processes: f.processes, fillMs: Math.round(f.fillMs), settleMs: Math.round(f.settleMs), min: f.tableMin, median: f.tableMedian, perPair: f.perPair.toFixed(2), lookups: r(f.lookups), network: r(f.network), failures: f.failures, provide: r(f.provide), find: r(f.find), goneMs: Math.round(f.goneMs), goneAllMs: Math.round(f.goneAllMs), findAfter: r(f.findAfter), deadReturned: f.deadReturned, networkAfter: r(f.networkAfter), lateJoinerMs: Math.round(f.lateJoiner), seconds: Math.round((performance.now() - t) / 1000) }))
}
process.exit(0)
