/**
 * The libp2p host: provider records and peer-store entries that strangers leave behind stay
 * within their caps. Real libp2p nodes on loopback; counted through the host's public API.
 */
import { describe, it, expect } from '@jest/globals'
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
import { createHost, DHT_PROTOCOL, type HostInit } from '../../services/discovery/src/p2p/host.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'

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

describe('the libp2p host', () => {
  it('keeps at most its cap of provider records from a stranger that provides 200 keys', async () => {
    const host = await createHost(await hostInit({ maxProviderRecordsPerPeer: 16 }), { logger: silentLogger() })
    const cids: CID[] = []
    // The host is stopped even when the stranger's part fails.
    try {
      const attacker = await stranger()
      try {
        await attacker.dial(multiaddr(host.getMultiaddrs()[0]!))
        await waitFor(async () => (await attacker.peerStore.get(host.peerId).catch(() => undefined))?.protocols.includes(DHT_PROTOCOL), { what: 'the stranger to learn that the host speaks the DHT', intervalMs: 20 })
        for (let i = 0; i < 200; i++) {
          const cid = CID.createV1(raw.code, await sha256.digest(randomBytes(32)))
          cids.push(cid)
          await attacker.contentRouting.provide(cid).catch(() => {})
        }
      } finally {
        await attacker.stop()
      }
      // With the stranger gone, what the host still answers for each key is what it stored.
      let kept = 0
      for (const cid of cids) {
        for await (const _ of host.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(5000) })) { kept++; break } // eslint-disable-line @typescript-eslint/no-unused-vars
      }
      figure('peers', 'provider records kept from one stranger providing 200 keys (cap 16)', kept, 'records')
      expect(kept).toBeGreaterThan(0)
      expect(kept).toBeLessThanOrEqual(16)
    } finally {
      await host.stop()
    }
  })

  it('keeps peer-store entries within their byte cap after 30 strangers came and went', async () => {
    const host = await createHost(await hostInit({ maxPeerStoreBytes: 2 * 1024 }), { logger: silentLogger() })
    try {
      for (let i = 0; i < 30; i++) {
        const peer = await stranger()
        await peer.dial(multiaddr(host.getMultiaddrs()[0]!))
        try {
          await waitFor(async () => await host.peerStore.has(peer.peerId), { what: `the host to store stranger ${i}`, intervalMs: 20 })
        } finally {
          await peer.stop()
        }
      }
      const kept = (await host.peerStore.all()).length
      figure('peers', 'peer-store entries kept after 30 strangers (cap 2 KiB)', kept, 'entries')
      expect(kept).toBeGreaterThan(0)
      expect(kept).toBeLessThan(30)
    } finally {
      await host.stop()
    }
  })
})
