/**
 * What one DHT lookup costs the network (host.ts DHT_ALPHA / DHT_PATHS, dht-join.ts
 * skipKnownContacts): 8 Phase nodes on loopback, joined through one seed, tables filled. A lookup
 * keeps at most α × paths requests in flight (kad-dht's defaults asked every known peer at once),
 * and the contacts its answers name that are this node or already in its routing table reach
 * neither the routing table nor peer discovery (kad-dht passed them all on, and pinged itself).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import type { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { DHT_ALPHA, DHT_PATHS, DHT_REQUEST_MS } from '../../services/discovery/src/p2p/host.ts'
import { startPeer, quicOf, tableSize, dhtOf } from '../helpers/network-peer.ts'
import { waitFor } from '../helpers/wait-for.ts'

interface Named { id: { toString: () => string } }
interface Dht {
  getClosestPeers: (key: Uint8Array, options: { signal: AbortSignal }) => AsyncIterable<unknown>
  routingTable: { kb: { toIterable: () => Iterable<{ peerId: { toString: () => string } }> } }
  network: {
    timeout: { getTimeoutSignal: () => AbortSignal & { timeout: number, clear: () => void }, next: { push: (value: number, time: number) => void } }
    sendRequest: (...args: unknown[]) => AsyncGenerator<unknown>
    addEventListener: (type: 'peer', fn: (e: CustomEvent<Named>) => void) => void
    removeEventListener: (type: 'peer', fn: (e: CustomEvent<Named>) => void) => void
  }
}
const selfKey = (net: PhaseNetwork): Uint8Array => (net as unknown as { node: { peerId: { toMultihash: () => { bytes: Uint8Array } } } }).node.peerId.toMultihash().bytes

const NODES = 8

async function walk (dht: Dht, key: Uint8Array): Promise<void> {
  for await (const _ of dht.getClosestPeers(key, { signal: AbortSignal.timeout(20_000) })) { /* drain */ }
}

describe('DHT lookup load', () => {
  const nets: PhaseNetwork[] = []

  beforeAll(async () => {
    const seed = await startPeer()
    nets.push(seed)
    for (let i = 1; i < NODES; i++) { const n = await startPeer(); nets.push(n); await n.dial(quicOf(seed)) }
    await waitFor(() => nets.every((n) => tableSize(n) >= NODES - 1), { what: `every routing table to hold the other ${NODES - 1} nodes`, timeoutMs: 60_000, intervalMs: 100 })
  }, 90_000)

  afterAll(async () => {
    await Promise.all(nets.map(async (n) => { await n.stop() }))
  })

  it('keeps at most alpha × paths requests in flight when a lookup walks a full table', async () => {
    const dht = dhtOf<Dht>(nets[1]!)
    const send = dht.network.sendRequest
    let key = new Uint8Array(0)
    let inFlight = 0
    let most = 0
    let sent = 0
    // Only this lookup's requests (the node's own fills and announces share the network part).
    const ours = (args: unknown[]): boolean => Buffer.from((args[1] as { key?: Uint8Array }).key ?? []).equals(key)
    dht.network.sendRequest = async function * (...args: unknown[]) {
      if (!ours(args)) { yield * send.apply(this, args); return }
      inFlight++
      sent++
      most = Math.max(most, inFlight)
      try { yield * send.apply(this, args) } finally { inFlight-- }
    }
    try {
      for (let i = 0; i < 3; i++) {
        key = new Uint8Array(randomBytes(32))
        await walk(dht, key)
      }
    } finally {
      dht.network.sendRequest = send
    }
    expect(sent).toBeGreaterThan(0)
    // kad-dht's defaults (α 10 on 10 paths) asked all 7 known peers at once.
    expect(most).toBeLessThanOrEqual(DHT_ALPHA * DHT_PATHS)
  }, 60_000)

  it('keeps a DHT request\'s deadline at DHT_REQUEST_MS when earlier requests were aborted late', async () => {
    const timeout = dhtOf<Dht>(nets[3]!).network.timeout
    // What a join leaves behind: a minute of requests aborted after 20 s (kad-dht counts each as
    // 40 s in the average it sets the next deadline from; its average weighs samples by time).
    const now = Date.now()
    for (let i = 1; i <= 6; i++) timeout.next.push(40_000, now + i * 10_000)
    const next = timeout.getTimeoutSignal()
    next.clear()
    // kad-dht's own: up to 60 s.
    expect(next.timeout).toBeLessThanOrEqual(DHT_REQUEST_MS)
  })

  it('passes on no contact that is this node or already in its routing table when answers name them', async () => {
    const net = nets[2]!
    const dht = dhtOf<Dht>(net)
    const inTable = new Set([...dht.routingTable.kb.toIterable()].map((p) => p.peerId.toString()))
    expect(inTable.size).toBe(NODES - 1)
    const passed: string[] = []
    const onPeer = (e: CustomEvent<Named>): void => { passed.push(e.detail.id.toString()) }
    dht.network.addEventListener('peer', onPeer)
    try {
      // Our own key: every answer names the peers closest to it, this node first.
      await walk(dht, selfKey(net))
      for (let i = 0; i < 2; i++) await walk(dht, new Uint8Array(randomBytes(32)))
    } finally {
      dht.network.removeEventListener('peer', onPeer)
    }
    // Without the filter: 3 lookups × 3+ answers × up to 8 contacts, every one of them known.
    expect(passed.filter((p) => p === net.peerId)).toEqual([])
    expect(passed.filter((p) => inTable.has(p))).toEqual([])
  }, 60_000)
})
