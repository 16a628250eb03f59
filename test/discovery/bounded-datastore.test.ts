/**
 * BoundedDatastore, and the host built on it: provider records and peer-store entries that
 * strangers leave behind are capped, with real libp2p nodes on loopback for the DHT.
 */
import { describe, it, expect } from '@jest/globals'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { Libp2p } from '@libp2p/interface'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BoundedDatastore } from '../../services/discovery/src/p2p/bounded-datastore.ts'
import { createHost, DHT_PROTOCOL, type HostInit } from '../../services/discovery/src/p2p/host.ts'
import { silentLogger } from '../../services/core/src/logger.ts'
import { figure } from '../helpers/figures.ts'

const bytes = (n: number): Uint8Array => new Uint8Array(n)

async function hostInit (store: HostInit['store']): Promise<HostInit> {
  return {
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false, relayServer: false, upnp: false,
    privateAddresses: true, inboundPerSecond: 1000, maxConnections: 200, store
  }
}

async function stranger (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1000 },
    services: { identify: identify(), ping: ping(), dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }) }
  }) as unknown as Libp2p
}

describe('BoundedDatastore', () => {
  it('refuses provider records past the per-peer count and keeps the others', () => {
    const store = new BoundedDatastore({ maxProviderRecordsPerPeer: 2 })
    store.put(new Key('/dht/provider/cid1/peerA'), bytes(8))
    store.put(new Key('/dht/provider/cid2/peerA'), bytes(8))
    expect(() => store.put(new Key('/dht/provider/cid3/peerA'), bytes(8))).toThrow(expect.objectContaining({ code: 'limit_exceeded' }))
    store.put(new Key('/dht/provider/cid1/peerA'), bytes(8)) // a refresh of a record it has is fine
    store.put(new Key('/dht/provider/cid3/peerB'), bytes(8))
    store.delete(new Key('/dht/provider/cid1/peerA'))
    store.put(new Key('/dht/provider/cid4/peerA'), bytes(8))
    expect(store.usage().providerRecords).toBe(3)
  })

  it('refuses DHT records past the byte cap', () => {
    const store = new BoundedDatastore({ maxDhtBytes: 1000 })
    store.put(new Key('/dht/record/a'), bytes(900))
    expect(() => store.put(new Key('/dht/record/b'), bytes(200))).toThrow(expect.objectContaining({ code: 'limit_exceeded' }))
    expect(store.usage().dhtBytes).toBe(900 + '/dht/record/a'.length)
  })

  it('drops the least recently written peer-store entries past the byte cap', async () => {
    const store = new BoundedDatastore({ maxPeerStoreBytes: 3000 })
    for (let i = 0; i < 10; i++) store.put(new Key(`/peers/p${i}`), bytes(1000))
    expect(store.usage().peerStoreEntries).toBe(2)
    expect(store.has(new Key('/peers/p9'))).toBe(true)
    expect(store.has(new Key('/peers/p0'))).toBe(false)
    // Other keys (the node's own state) are not bounded here.
    store.put(new Key('/local/x'), bytes(10_000))
    expect(store.has(new Key('/local/x'))).toBe(true)
  })
})

describe('the libp2p host', () => {
  it('keeps at most its cap of provider records from a stranger that provides 200 keys', async () => {
    const host = await createHost(await hostInit({ maxProviderRecordsPerPeer: 16 }), { logger: silentLogger() })
    const attacker = await stranger()
    try {
      await attacker.dial(multiaddr(host.getMultiaddrs()[0]!))
      while (!((await attacker.peerStore.get(host.peerId).catch(() => undefined))?.protocols.includes(DHT_PROTOCOL) ?? false)) await new Promise((r) => setTimeout(r, 20))
      let provided = 0
      for (let i = 0; i < 200; i++) {
        const cid = CID.createV1(raw.code, await sha256.digest(randomBytes(32)))
        await attacker.contentRouting.provide(cid).then(() => { provided++ }, () => {})
      }
      expect(provided).toBeGreaterThan(0)
      const records = host.datastore.usage().providerRecords
      figure('peers', 'provider records kept from one stranger providing 200 keys (cap 16)', records, 'records')
      expect(records).toBeGreaterThan(0)
      expect(records).toBeLessThanOrEqual(16)
    } finally {
      await attacker.stop()
      await host.stop()
    }
  })

  it('keeps peer-store entries within their byte cap after 30 strangers came and went', async () => {
    const host = await createHost(await hostInit({ maxPeerStoreBytes: 2 * 1024 }), { logger: silentLogger() })
    try {
      for (let i = 0; i < 30; i++) {
        const peer = await stranger()
        await peer.dial(multiaddr(host.getMultiaddrs()[0]!))
        while (!(await host.peerStore.has(peer.peerId))) await new Promise((r) => setTimeout(r, 20))
        await peer.stop()
      }
      const usage = host.datastore.usage()
      const kept = (await host.peerStore.all()).length
      figure('peers', 'peer-store entries kept after 30 strangers (cap 2 KiB)', `${kept} (${usage.peerStoreBytes} B)`, 'entries')
      expect(usage.peerStoreBytes).toBeLessThanOrEqual(2 * 1024)
      expect(kept).toBeLessThan(30)
    } finally {
      await host.stop()
    }
  })
})
