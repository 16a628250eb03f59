/**
 * A peer's inbound DHT requests are held to a rate (peer-limits.ts limitDhtRequests, installed
 * on every host by tuneDht): three real nodes on loopback; B fires FIND_NODE requests at A far
 * past DHT_REQUESTS_PER_PEER_PER_S (kad-dht answered every one, each a read of the closest peers
 * from the peer store on A's event loop); A answers about its burst and refuses the rest, while
 * C, another peer, is answered at once, and B is answered again once its bucket refilled.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { BURST_SECONDS, DHT_REQUESTS_PER_PEER_PER_S } from '../../services/discovery/src/p2p/peer-limits.ts'
import { startPeer, quicOf, dhtOf } from '../helpers/network-peer.ts'

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

  it("answers one peer's flood up to its burst, refuses the rest, and answers another peer meanwhile", async () => {
    const [a, b, c] = nets as [PhaseNetwork, PhaseNetwork, PhaseNetwork]
    const burst = DHT_REQUESTS_PER_PEER_PER_S * BURST_SECONDS
    const total = 3 * burst
    let answered = 0
    let next = 0
    const t0 = performance.now()
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < total) { next++; if (await findNode(b, a)) answered++ }
    }))
    const seconds = (performance.now() - t0) / 1000
    // Its burst and what refilled meanwhile, never all of them.
    expect(answered).toBeGreaterThanOrEqual(burst / 2)
    expect(answered).toBeLessThanOrEqual(burst + Math.ceil(seconds * DHT_REQUESTS_PER_PEER_PER_S) + 1)
    expect(answered).toBeLessThan(total)
    expect(await findNode(c, a)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await findNode(b, a)).toBe(true)
  }, 60_000)
})
