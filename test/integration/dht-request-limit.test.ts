/**
 * A peer's inbound DHT requests are held to a rate (peer-limits.ts limitDhtRequests, installed
 * on every host by tuneDht): three real nodes on loopback. Every host has the bound on its
 * kad-dht's inbound handler; then, with a bound tight enough that no host is too slow to exceed
 * it (5/s, burst 10, added on A), B fires FIND_NODE requests at A (kad-dht answered every one,
 * each a read of the closest peers from the peer store on A's event loop): A answers its burst
 * and what refilled and refuses the rest (kad-dht aborts those streams; the connection stays),
 * C, another peer, is answered right after, and B is answered again once its bucket refilled.
 * Then a peer that goes on past its rate is cut off (peer-shun.ts, on a fourth node D with its own
 * bound of 20/s, which B's flood of four requests at a time passes and C's own table traffic does
 * not, and a cut-off after 10 refusals): its connection closed, no new one accepted for the
 * cut-off's length, other peers answered meanwhile, and let back in after it.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { BURST_SECONDS, limitDhtRequests, type DhtRpc } from '../../services/discovery/src/p2p/peer-limits.ts'
import { startPeer, quicOf, dhtOf, LOOPBACK } from '../helpers/network-peer.ts'
import { waitFor } from '../helpers/wait-for.ts'

interface Network { sendRequest: (to: PeerId, msg: { type: string, key: Uint8Array }, options: { signal: AbortSignal }) => AsyncIterable<{ name: string }> }
const networkOf = (net: PhaseNetwork): Network => dhtOf<{ network: Network }>(net).network

/** Sends one FIND_NODE from `from` to `to`: true when answered. */
async function findNode (from: PhaseNetwork, to: PhaseNetwork): Promise<boolean> {
  let answered = false
  for await (const ev of networkOf(from).sendRequest(peerIdFromString(to.peerId), { type: 'FIND_NODE', key: new TextEncoder().encode(from.peerId) }, { signal: AbortSignal.timeout(10_000) })) {
    if (ev.name === 'PEER_RESPONSE') answered = true
  }
  return answered
}

describe('DHT inbound request limit', () => {
  const nets: PhaseNetwork[] = []

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) nets.push(await startPeer())
    await nets[1]!.dial(quicOf(nets[0]!))
    await nets[2]!.dial(quicOf(nets[0]!))
  })

  afterAll(async () => {
    await Promise.all(nets.map(async (n) => { await n.stop() }))
  })

  it('is installed on every host', () => {
    for (const net of nets) expect(Object.hasOwn(dhtOf<{ rpc: DhtRpc }>(net).rpc, 'handleMessage')).toBe(true)
  })

  it("answers one peer's flood up to its burst, refuses the rest, and answers another peer", async () => {
    const [a, b, c] = nets as [PhaseNetwork, PhaseNetwork, PhaseNetwork]
    const perSecond = 5
    const tight = limitDhtRequests(dhtOf<{ rpc: DhtRpc }>(a).rpc, { perPeer: { perSecond, concurrency: 16 } })
    try {
      const burst = perSecond * BURST_SECONDS
      const total = 60
      let answered = 0
      let next = 0
      const t0 = performance.now()
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < total) { next++; if (await findNode(b, a)) answered++ }
      }))
      const seconds = (performance.now() - t0) / 1000
      // Its burst and what refilled meanwhile, never more.
      expect(answered).toBeGreaterThanOrEqual(burst)
      expect(answered).toBeLessThanOrEqual(burst + Math.ceil(seconds * perSecond) + 1)
      // B's own DHT traffic to A meanwhile (its table refresh, its announcer) is refused too.
      expect(tight.refused()).toBeGreaterThanOrEqual(total - answered)
      expect(b.addresses().length).toBeGreaterThan(0)
      expect(await findNode(c, a)).toBe(true)
      // B again once a token refilled (B's own background requests to A may take the first ones).
      await waitFor(async () => await findNode(b, a), { what: 'A to answer B again', timeoutMs: 5000, intervalMs: 1000 / perSecond })
    } finally {
      tight.undo()
    }
  }, 60_000)

  it('cuts off a peer that goes on past its rate, for a while', async () => {
    const [, b, c] = nets as [PhaseNetwork, PhaseNetwork, PhaseNetwork]
    // A rate B's flood clearly passes but C's own table fill and refresh at D (bursts of a few
    // dozen requests on a loaded host) stay within: C is not refused or cut off by its own traffic.
    const forMs = 8000
    const perSecond = 20
    const d = await startPeer([], LOOPBACK, { dhtLimits: { perPeer: { perSecond, concurrency: 16 }, shun: { refusals: 10, windowMs: 60_000, forMs } } })
    nets.push(d)
    await b.dial(quicOf(d))
    await c.dial(quicOf(d))
    const connected = async (from: PhaseNetwork, to: PhaseNetwork): Promise<boolean> => (await from.peers()).some((p) => p.peerId === to.peerId)
    expect(await connected(d, b)).toBe(true)
    // Its burst and what refills are answered, the rest refused: the tenth refusal cuts B off
    // (B's own table fill may have spent some of its bucket at D first).
    // Four requests at a time, so B passes the rate however slow one round trip is on a loaded host.
    const burst = perSecond * BURST_SECONDS
    let answered = 0
    let sent = 0
    const t0 = performance.now()
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (sent < 400 && await connected(d, b)) { sent++; if (await findNode(b, d).catch(() => false)) answered++ }
    }))
    const cutAt = performance.now()
    // hangUp closes gracefully (up to a second); what B sends meanwhile is refused at once.
    await waitFor(async () => !await connected(d, b), { what: 'D to close its connection to B', timeoutMs: 10_000 })
    expect(answered).toBeLessThanOrEqual(burst + Math.ceil((cutAt - t0) / 1000 * perSecond) + 1)
    // What /metrics shows: one peer cut off now, its refusals counted.
    expect(d.load().peersCutOff).toBe(1)
    expect(d.counters().dhtRefused).toBeGreaterThanOrEqual(10)
    // No connection from B meanwhile: D's gater closes it after the handshake (B may see its dial
    // complete first), so B's requests go unanswered; C is still answered.
    await b.dial(quicOf(d)).catch(() => {})
    expect(await findNode(b, d).catch(() => false)).toBe(false)
    expect(await connected(d, b)).toBe(false)
    expect(await findNode(c, d)).toBe(true)
    expect(d.load().peersCutOff).toBe(1)
    // Let back in once the cut-off has passed.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, forMs - (performance.now() - cutAt)) + 200))
    await b.dial(quicOf(d))
    expect(await findNode(b, d)).toBe(true)
    expect(d.load().peersCutOff).toBe(0)
  }, 60_000)
})
