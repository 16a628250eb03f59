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
import { waitFor } from '../helpers/wait-for.ts'

/** Asks `net` for executors every 100 ms until `ok` holds for the peer ids it returns. */
async function findUntil (net: PhaseNetwork, ok: (found: string[]) => boolean, what: string): Promise<string[]> {
  let last: string[] = []
  return await waitFor(async () => {
    last = (await net.findExecutors({}, { limit: 100 })).map((e) => e.peerId)
    return ok(last) && last
  }, { what, intervalMs: 100, detail: () => `last found: ${JSON.stringify(last)}` })
}

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
    await findUntil(a, (found) => [b.peerId, ...victims!.ids].every((v) => found.includes(v)), 'A to find B and both victims')

    await victims!.kill()
    const killedAt = performance.now()
    const found = await findUntil(a, (found) => !found.some((p) => dead.has(p)), 'A to drop the killed peers')
    const goneMs = performance.now() - killedAt
    // Generous for a loaded machine: the record's own lifetime is 10 minutes.
    expect(goneMs).toBeLessThan(20_000)
    expect(found).toContain(b.peerId)
    figure('p2p', 'killed peers gone from FindExecutors (node that talked to them)', Math.round(goneMs), 'ms')

    // C joins after the deaths: the DHT still names the dead as providers.
    const c = await startPeer()
    nets.push(c)
    await c.dial(quicOf(b))
    // Every answer C gives on the way is checked: none may name the dead.
    const answers: string[][] = []
    const late = await waitFor(async () => {
      const t = performance.now()
      const ids = (await c.findExecutors({}, { limit: 100 })).map((e) => e.peerId)
      figure('p2p', 'FindExecutors on a node that joined after the kill', Math.round(performance.now() - t), 'ms')
      answers.push(ids)
      return ids.includes(a.peerId) && ids
    }, { what: 'C (joined after the kill) to find A', intervalMs: 100 })
    expect(answers.filter((ids) => ids.some((p) => dead.has(p)))).toEqual([])
    expect(late).toEqual(expect.arrayContaining([a.peerId, b.peerId]))
  }, 120_000)

  it('drops peers that stop answering on a TCP connection that stays open', async () => {
    const a = nets[0]!
    // TCP only: no QUIC idle timeout, and a stopped process sends no FIN: the connection stays
    // open, so only a ping can tell (before: the cached record was served for its 10 minutes).
    silent = await startChildPeers(2, a.addresses().find((x) => x.includes('/tcp'))!, true)
    const quiet = new Set(silent.ids)
    await findUntil(a, (found) => silent!.ids.every((v) => found.includes(v)), 'A to find both soon-silent peers')
    // Frozen for good: afterAll kills them (SIGKILL ends a stopped process too).
    silent.freeze()
    const frozenAt = performance.now()
    await findUntil(a, (found) => !found.some((p) => quiet.has(p)), 'A to drop the silent peers')
    const goneMs = performance.now() - frozenAt
    expect(goneMs).toBeLessThan(20_000)
    figure('p2p', 'silent peers (open TCP, no answer) gone from FindExecutors', Math.round(goneMs), 'ms')
  }, 120_000)
})
