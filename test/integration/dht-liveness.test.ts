/**
 * Liveness of FindExecutors: nodes killed with SIGKILL (in a child process, so nothing is said
 * on the way out) drop out of the answer within seconds on a node that had talked to them, and
 * never appear in the answer of a node that joins after they died (their provider records are
 * still in the DHT for 48 h; each is checked, in parallel, under its own deadline).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import type { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { startPeer, startChildPeers, quicOf, type ChildPeers } from '../helpers/network-peer.ts'
import { figure } from '../helpers/figures.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('FindExecutors liveness', () => {
  const nets: PhaseNetwork[] = []
  let victims: ChildPeers | undefined
  let silent: ChildPeers | undefined

  beforeAll(async () => {
    const a = await startPeer()
    nets.push(a)
    nets.push(await startPeer([quicOf(a)]))
    await nets[1]!.dial(quicOf(a))
    victims = await startChildPeers(2, quicOf(a))
  })

  afterAll(async () => {
    await victims?.kill()
    await silent?.kill()
    await Promise.all(nets.map(async (n) => { await n.stop() }))
  })

  it('drops killed peers within seconds, and a node that joins later never returns them', async () => {
    const [a, b] = nets as [PhaseNetwork, PhaseNetwork]
    const dead = new Set(victims!.ids)
    // A has talked to every node: all three others are found, checked and alive.
    let found: string[] = []
    for (let i = 0; i < 200 && !(victims!.ids.every((v) => found.includes(v)) && found.includes(b.peerId)); i++) {
      found = (await a.findExecutors({}, { limit: 100 })).map((e) => e.peerId)
      await sleep(100)
    }
    expect(found).toEqual(expect.arrayContaining([b.peerId, ...victims!.ids]))

    await victims!.kill()
    const killedAt = performance.now()
    let goneMs = -1
    while (performance.now() - killedAt < 30_000) {
      found = (await a.findExecutors({}, { limit: 100 })).map((e) => e.peerId)
      if (!found.some((p) => dead.has(p))) { goneMs = performance.now() - killedAt; break }
      await sleep(100)
    }
    // Generous for a loaded machine: the record's own lifetime is 10 minutes.
    expect(goneMs).toBeGreaterThanOrEqual(0)
    expect(goneMs).toBeLessThan(20_000)
    expect(found).toContain(b.peerId)
    figure('p2p', 'killed peers gone from FindExecutors (node that talked to them)', Math.round(goneMs), 'ms')

    // C joins after the deaths: the DHT still names the dead as providers.
    const c = await startPeer()
    nets.push(c)
    await c.dial(quicOf(b))
    let late: string[] = []
    for (let i = 0; i < 100 && !late.includes(a.peerId); i++) {
      const t = performance.now()
      late = (await c.findExecutors({}, { limit: 100 })).map((e) => e.peerId)
      figure('p2p', 'FindExecutors on a node that joined after the kill', Math.round(performance.now() - t), 'ms')
      expect(late.some((p) => dead.has(p))).toBe(false)
      await sleep(100)
    }
    expect(late).toEqual(expect.arrayContaining([a.peerId, b.peerId]))
  }, 120_000)

  it('drops peers that stop answering on a TCP connection that stays open', async () => {
    const a = nets[0]!
    // TCP only: no QUIC idle timeout, and a stopped process sends no FIN: the connection stays
    // open, so only a ping can tell (before: the cached record was served for its 10 minutes).
    silent = await startChildPeers(2, a.addresses().find((x) => x.includes('/tcp'))!, true)
    const quiet = new Set(silent.ids)
    let found: string[] = []
    for (let i = 0; i < 200 && !silent.ids.every((v) => found.includes(v)); i++) {
      found = (await a.findExecutors({}, { limit: 100 })).map((e) => e.peerId)
      await sleep(100)
    }
    expect(found).toEqual(expect.arrayContaining(silent.ids))
    silent.freeze()
    const frozenAt = performance.now()
    let goneMs = -1
    while (performance.now() - frozenAt < 30_000) {
      found = (await a.findExecutors({}, { limit: 100 })).map((e) => e.peerId)
      if (!found.some((p) => quiet.has(p))) { goneMs = performance.now() - frozenAt; break }
      await sleep(100)
    }
    expect(goneMs).toBeGreaterThanOrEqual(0)
    expect(goneMs).toBeLessThan(20_000)
    figure('p2p', 'silent peers (open TCP, no answer) gone from FindExecutors', Math.round(goneMs), 'ms')
  }, 120_000)
})
