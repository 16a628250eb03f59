import { clusterFigures } from './network-dht-cluster.ts'
import { median, percentile } from './stats.ts'
const n = Number(process.argv[2] ?? 20)
const t = performance.now()
const f = await clusterFigures(n, Number(process.argv[3] ?? 5))
const r = (x: number[]) => `${median(x)?.toFixed(1)} / ${percentile(x, 90)?.toFixed(1)} (${x.length})`
console.log(JSON.stringify({ n, procs: f.processes, fill: Math.round(f.fillMs), min: f.tableMin, med: f.tableMedian, perPair: f.perPair.toFixed(2), lookups: r(f.lookups), network: r(f.network), fail: f.failures, provide: r(f.provide), find: r(f.find), goneMs: Math.round(f.goneMs), findAfter: r(f.findAfter), deadReturned: f.deadReturned, networkAfter: r(f.networkAfter), late: Math.round(f.lateJoiner), totalS: ((performance.now() - t) / 1000).toFixed(0) }))
process.exit(0)
