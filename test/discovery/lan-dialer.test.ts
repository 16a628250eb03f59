import { describe, it, expect } from '@jest/globals'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import { LanDialer, type LanDialerHost } from '../../services/discovery/src/p2p/lan-dialer.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

async function peer (port = 4001): Promise<PeerInfo> {
  const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  return { id, multiaddrs: [multiaddr(`/ip4/10.0.0.1/tcp/${port}`)] }
}

/** A host whose dials wait until the test settles them. */
class FakeHost implements LanDialerHost {
  readonly dials: Array<{ addresses: Multiaddr[], signal: AbortSignal, settle: (ok: boolean) => void }> = []
  connected = new Set<string>()
  readonly peerId: PeerId
  extraConnections: number
  constructor (peerId: PeerId, extraConnections = 0) {
    this.peerId = peerId
    this.extraConnections = extraConnections
  }

  async dial (addresses: Multiaddr[], options: { signal: AbortSignal }): Promise<unknown> {
    return await new Promise((resolve, reject) => {
      this.dials.push({ addresses, signal: options.signal, settle: (ok) => { ok ? resolve(undefined) : reject(new Error('unreachable')) } })
      options.signal.addEventListener('abort', () => { reject(options.signal.reason) }, { once: true })
    })
  }

  getConnections (p?: PeerId): unknown[] {
    if (p !== undefined) return this.connected.has(p.toString()) ? [{}] : []
    return Array.from({ length: this.connected.size + this.extraConnections })
  }
}

const settled = async (): Promise<void> => { await new Promise((r) => setImmediate(r)) }

describe('LanDialer', () => {
  it('dials a peer mDNS reported, at the addresses reported, pinned to its PeerId', async () => {
    const self = await peer()
    const host = new FakeHost(self.id)
    const dialer = new LanDialer(silentLogger(), { maxConnections: 10 })
    dialer.attach(host)
    const p = await peer(4002)
    dialer.found(p)
    expect(host.dials).toHaveLength(1)
    expect(host.dials[0]!.addresses.map(String)).toEqual([`/ip4/10.0.0.1/tcp/4002/p2p/${p.id.toString()}`])
    host.dials[0]!.settle(true)
    await settled()
    expect(dialer.counts.connected).toBe(1)
    dialer.stop()
  })

  it('ignores itself, a peer already connected, and a peer with no address', async () => {
    const self = await peer()
    const host = new FakeHost(self.id)
    const dialer = new LanDialer(silentLogger(), { maxConnections: 10 })
    dialer.attach(host)
    dialer.found(self)
    const connected = await peer()
    host.connected.add(connected.id.toString())
    dialer.found(connected)
    dialer.found({ id: (await peer()).id, multiaddrs: [] })
    expect(host.dials).toHaveLength(0)
    dialer.stop()
  })

  it('runs at most maxInflight dials at once and queues at most maxQueued, dropping the rest', async () => {
    const host = new FakeHost((await peer()).id)
    const dialer = new LanDialer(silentLogger(), { maxConnections: 100, maxInflight: 2, maxQueued: 3 })
    dialer.attach(host)
    for (let i = 0; i < 10; i++) dialer.found(await peer())
    expect(host.dials).toHaveLength(2)
    expect(dialer.counts.dropped).toBe(5)
    host.dials[0]!.settle(true)
    await settled()
    expect(host.dials).toHaveLength(3)
    dialer.stop()
  })

  it('does not redial a peer whose dial failed until the back-off has passed', async () => {
    let now = 1_000
    const host = new FakeHost((await peer()).id)
    const dialer = new LanDialer(silentLogger(), { maxConnections: 10, redialBackoffMs: 60_000, now: () => now })
    dialer.attach(host)
    const p = await peer()
    dialer.found(p)
    host.dials[0]!.settle(false)
    await settled()
    expect(dialer.counts.failed).toBe(1)
    dialer.found(p)
    expect(host.dials).toHaveLength(1)
    now += 60_001
    dialer.found(p)
    expect(host.dials).toHaveLength(2)
    dialer.stop()
  })

  it('remembers at most maxRemembered failed peers', async () => {
    const host = new FakeHost((await peer()).id)
    const dialer = new LanDialer(silentLogger(), { maxConnections: 100, maxRemembered: 2, maxInflight: 10 })
    dialer.attach(host)
    const peers = [await peer(), await peer(), await peer()]
    for (const p of peers) dialer.found(p)
    for (const d of host.dials) d.settle(false)
    await settled()
    // The first failure was forgotten (only two remembered), so it is dialled again at once.
    dialer.found(peers[0]!)
    dialer.found(peers[2]!)
    expect(host.dials).toHaveLength(4)
    dialer.stop()
  })

  it('starts no dial once the host holds maxConnections connections', async () => {
    const host = new FakeHost((await peer()).id, 5)
    const dialer = new LanDialer(silentLogger(), { maxConnections: 5 })
    dialer.attach(host)
    dialer.found(await peer())
    expect(host.dials).toHaveLength(0)
    dialer.stop()
  })

  it('holds peers reported before the host exists and dials them once attached', async () => {
    const dialer = new LanDialer(silentLogger(), { maxConnections: 10 })
    dialer.found(await peer())
    const host = new FakeHost((await peer()).id)
    dialer.attach(host)
    expect(host.dials).toHaveLength(1)
    dialer.stop()
  })

  it('aborts dials in flight when stopped', async () => {
    const host = new FakeHost((await peer()).id)
    const dialer = new LanDialer(silentLogger(), { maxConnections: 10 })
    dialer.attach(host)
    dialer.found(await peer())
    dialer.stop()
    expect(host.dials[0]!.signal.aborted).toBe(true)
  })
})
