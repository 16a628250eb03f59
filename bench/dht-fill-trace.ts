/**
 * Routing-table fill over time at n nodes (the node's own network code over child processes,
 * as bench/network-dht-cluster.ts starts them): `node bench/dht-fill-trace.ts [n] [seconds]`
 * prints, every 2 s, table min / median / max beside distinct connected peers per node.
 */
import { startPeer, startChildPeers, quicOf, statsOf, childStats, type ChildPeers } from '../test/helpers/network-peer.ts'

const n = Number(process.argv[2] ?? 50)
const seconds = Number(process.argv[3] ?? 60)
const seed = await startPeer()
const children: ChildPeers[] = []
const q = (xs: number[], p: number): number => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!
try {
  const t0 = performance.now()
  const sizes: number[] = []
  for (let i = 0; i < n - 1; i += 5) sizes.push(Math.min(5, n - 1 - i))
  for (let i = 0; i < sizes.length; i += 2) children.push(...await Promise.all(sizes.slice(i, i + 2).map(async (k) => await startChildPeers(k, quicOf(seed)))))
  console.log(`started in ${Math.round(performance.now() - t0)} ms`)
  while (performance.now() - t0 < seconds * 1000) {
    const s = [statsOf(seed), ...(await Promise.all(children.map(childStats))).flat()]
    const tables = s.map((x) => x.table)
    const conns = s.map((x) => Object.keys(x.connections).length)
    const dup = s.map((x) => Object.values(x.connections).reduce((a, c) => a + c, 0)).reduce((a, b) => a + b, 0) / Math.max(1, conns.reduce((a, b) => a + b, 0))
    const low = s.filter((x) => x.table < (n - 1) * 0.5).map((x) => `${x.table}/${Object.keys(x.connections).length}`).slice(0, 8).join(' ')
    console.log(`${((performance.now() - t0) / 1000).toFixed(0)} s table ${q(tables, 0)}/${q(tables, 0.5)}/${q(tables, 1)} peers ${q(conns, 0)}/${q(conns, 0.5)}/${q(conns, 1)} conns/peer ${dup.toFixed(2)} low(table/peers) ${low}`)
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
} finally {
  await Promise.all(children.map(async (c) => { await c.kill() }))
  await seed.stop()
}
process.exit(0)
