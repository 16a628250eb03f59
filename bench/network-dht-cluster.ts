/**
 * The node's own DHT (PhaseNetwork: host.ts settings, join fill, connection dedupe, peer book,
 * FindExecutors) at n nodes on loopback, spread over child processes of a few nodes each (one
 * event loop for 50 nodes starves them all on a 2-core machine). Nodes join through one seed;
 * figures: routing table fill, connections per pair, DHT lookups of a provider, FindExecutors,
 * then churn: a process of `victims` nodes is SIGKILLed and FindExecutors on a node that talked
 * to them is timed until they are gone, then again on every node, and on a node that joins after.
 */
import type { PhaseNetwork } from '../services/discovery/src/p2p/index.ts'
import { startPeer, startChildPeers, quicOf, statsOf, childStats, ask, type ChildPeers, type PeerStats } from '../test/helpers/network-peer.ts'

export interface ClusterFigures {
  nodes: number
  processes: number
  fillMs: number
  /** ms after the fill until every process's event loop ran within SETTLED_LAG_MS (p99 over 1 s). */
  settleMs: number
  tableMin: number
  tableMedian: number
  perPair: number
  /** ms until a DHT lookup named the provider; `network`: lookups that left the node. */
  lookups: number[]
  network: number[]
  failures: number
  provide: number[]
  /** FindExecutors (limit 100) on every node, ms. */
  find: number[]
  /** ms from SIGKILL until FindExecutors on the seed (connected to them) no longer returned a victim. */
  goneMs: number
  /** ms from SIGKILL until FindExecutors on every surviving node no longer returned a victim (-1: not within 60 s). */
  goneAllMs: number
  /** FindExecutors on every surviving node as the seed found the victims gone, ms; and how many returned a victim then. */
  findAfter: number[]
  deadReturned: number
  /** DHT lookups after the churn. */
  networkAfter: number[]
  /** FindExecutors on a node that joined after the kill, ms. */
  lateJoiner: number
}

const say = (what: string): void => { process.stderr.write(`  dht: ${what}\n`) }
/** An event loop's p99 delay below which a process counts as done with the join's work. */
const SETTLED_LAG_MS = 100

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export async function clusterFigures (n: number, perProcess = 5, victims = 3, keyCount = 3): Promise<ClusterFigures> {
  const locals: PhaseNetwork[] = []
  const children: ChildPeers[] = []
  let dead: ChildPeers | undefined
  try {
    const seed = await startPeer()
    locals.push(seed)
    const t0 = performance.now()
    const rest = n - 1 - victims
    // Two processes at a time: a burst of 10 starting Node processes starves the seed's handshakes.
    const sizes0: number[] = []
    for (let i = 0; i < rest; i += perProcess) sizes0.push(Math.min(perProcess, rest - i))
    for (let i = 0; i < sizes0.length; i += 2) children.push(...await Promise.all(sizes0.slice(i, i + 2).map(async (k) => await startChildPeers(k, quicOf(seed)))))
    dead = await startChildPeers(victims, quicOf(seed))
    const all = [...children, dead]
    const stats = async (): Promise<PeerStats[]> => [...locals.map(statsOf), ...(await Promise.all(all.map(childStats))).flat()]
    const want = Math.ceil((n - 1) * 0.9)
    let s: PeerStats[] = []
    let total = -1
    let grewAt = performance.now()
    while (performance.now() - t0 < 120_000 && performance.now() - grewAt < 10_000) {
      s = await stats()
      if (s.every((x) => x.table >= want)) break
      const sum = s.reduce((a, x) => a + x.table, 0)
      if (sum > total) { total = sum; grewAt = performance.now() }
      await sleep(250)
    }
    const fillMs = performance.now() - t0
    say(`tables filled in ${Math.round(fillMs)} ms`)
    // Duplicates waiting for their streams to end are closed within seconds.
    await sleep(3000)
    s = await stats()
    const sizes = s.map((x) => x.table).sort((a, b) => a - b)
    const ids = new Set(s.map((x) => x.id))
    let conns = 0
    const pairs = new Set<string>()
    for (const x of s) {
      for (const [p, c] of Object.entries(x.connections)) {
        if (!ids.has(p)) continue
        conns += c
        pairs.add([x.id, p].sort().join('|'))
      }
    }

    // The join's own work (every node's refreshes, provides of its capability keys, liveness
    // checks) runs for a while after the tables are full; with 50 nodes on this machine's cores it
    // delays the event loops by seconds, which no deployed node (a machine of its own) sees. The
    // lookups are measured once every process's loop runs within 100 ms again (the wait is a row).
    const settleAt = performance.now()
    while (performance.now() - settleAt < 60_000) {
      const lags = await Promise.all(all.map(async (c) => await ask<number>(c, 'lag')))
      if (Math.max(...lags) < SETTLED_LAG_MS) break
      await sleep(1000)
    }
    const settleMs = performance.now() - settleAt
    say(`event loops settled after ${Math.round(settleMs)} ms`)

    // Lookups: a node in a child provides a key of its own; every node of every other child looks it up.
    const lookupsOf = async (): Promise<{ lookups: number[], network: number[], failures: number, provide: number[] }> => {
      const lookups: number[] = []
      const network: number[] = []
      const provide: number[] = []
      let failures = 0
      for (let k = 0; k < keyCount; k++) {
        const owner = children[(k * 3 + 1) % children.length]!
        const key = `runtime:bench-${k}-${Math.random().toString(36).slice(2, 6)}`
        const ms = await ask<number>(owner, { cmd: 'provide', index: 0, key })
        if (ms >= 0) provide.push(ms)
        for (const c of children) {
          if (c === owner) continue
          for (const r of await ask<Array<{ ms: number, local: boolean }>>(c, { cmd: 'lookup', key, provider: owner.ids[0] })) {
            if (r.ms < 0) { failures++; continue }
            lookups.push(r.ms)
            if (!r.local) network.push(r.ms)
          }
        }
      }
      return { lookups, network, failures, provide }
    }
    const before = await lookupsOf()
    say('lookups done')
    const find = (await Promise.all(children.map(async (c) => await ask<Array<{ ms: number, ids: string[] }>>(c, { cmd: 'find' })))).flat().map((r) => r.ms)

    // Churn: the victims' process is killed; the seed had connections to all of them.
    say('FindExecutors done')
    const victimIds = new Set(dead.ids)
    await seed.findExecutors({}, { limit: 100 })
    await dead.kill()
    const killedAt = performance.now()
    let goneMs = -1
    while (performance.now() - killedAt < 60_000) {
      const found = await seed.findExecutors({}, { limit: 100 })
      if (!found.some((e) => victimIds.has(e.peerId))) { goneMs = performance.now() - killedAt; break }
      await sleep(100)
    }
    say(`victims gone after ${Math.round(goneMs)} ms`)
    const findAll = async (): Promise<Array<{ ms: number, ids: string[] }>> => (await Promise.all(children.map(async (c) => await ask<Array<{ ms: number, ids: string[] }>>(c, { cmd: 'find' })))).flat()
    const after = await findAll()
    // Until no node of the network returns a victim: each learns it on its own (its connection's
    // idle timeout), not when the seed does.
    let goneAllMs = -1
    for (let found = after; performance.now() - killedAt < 60_000; found = await findAll()) {
      if (!found.some((r) => r.ids.some((id) => victimIds.has(id)))) { goneAllMs = performance.now() - killedAt; break }
      await sleep(100)
    }
    say(`victims gone from every node's answers after ${Math.round(goneAllMs)} ms`)
    const afterLookups = await lookupsOf()
    const late = await startPeer()
    locals.push(late)
    await late.dial(quicOf(seed))
    await sleep(1500)
    const t = performance.now()
    const lateFound = await late.findExecutors({}, { limit: 100 })
    const lateJoiner = performance.now() - t
    return {
      nodes: n,
      processes: all.length + 1,
      fillMs,
      settleMs,
      tableMin: sizes[0]!,
      tableMedian: sizes[Math.floor(sizes.length / 2)]!,
      perPair: pairs.size === 0 ? 0 : conns / 2 / pairs.size,
      ...before,
      find,
      goneMs,
      findAfter: after.map((r) => r.ms),
      goneAllMs,
      deadReturned: after.filter((r) => r.ids.some((id) => victimIds.has(id))).length + (lateFound.some((e) => victimIds.has(e.peerId)) ? 1 : 0),
      networkAfter: afterLookups.network,
      lateJoiner
    }
  } finally {
    await dead?.kill()
    await Promise.all(children.map(async (c) => { await c.kill() }))
    await Promise.all(locals.map(async (l) => { await l.stop() }))
  }
}
