/**
 * A private DHT of plain libp2p hosts in this process, set up as the node sets up its own
 * (`/phase/kad/1.0.0`, server mode, loopback addresses kept, QUIC + TCP, identify, ping):
 * each joins through one seed, routing tables fill, a few nodes provide capability keys, and
 * every other node looks each key up until the first PROVIDER event for that provider.
 * Not the node itself: no connection gater and no cut-off of flooding peers (peer-shun.ts), no
 * peer book or capability records. The node's own network at 50 nodes, the bench row, is
 * network-dht-cluster.ts; this one compares kad-dht's defaults with the node's DHT settings.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { quic } from '@chainsafe/libp2p-quic'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { CONNECTION_MONITOR, DHT_PROTOCOL, PING_INIT, QUIC_IDLE_TIMEOUT_MS, QUIC_KEEPALIVE_MS, dhtInit, quicFirst, tuneDht } from '../services/discovery/src/p2p/host.ts'
import { capabilityKey } from '../services/discovery/src/p2p/providers.ts'
import { LISTEN } from './network-floor.ts'

type DhtHost = Libp2p<{ dht: KadDHT }>

export interface DhtFigures {
  nodes: number
  /** ms from the first dial until every routing table held min(n - 1, 20) peers, or until the last growth. */
  fillMs: number
  filled: boolean
  tableMin: number
  tableMedian: number
  /** ms per provide() (until the query ends). */
  provide: number[]
  /** ms per lookup until the first PROVIDER event naming the provider, every lookup. */
  lookups: number[]
  /** The same, only lookups the looker could not answer from its own provider store. */
  network: number[]
  failures: number
  /** Connections by transport across all hosts at the end. */
  transports: Record<string, number>
  /** Open connections per connected pair of hosts (1 = no duplicates), at the end. */
  perPair: number
  /** Resident memory added per host, MiB. */
  mibPerNode: number
}

const KEYS = ['runtime:v8-wasm', 'executor', 'arch:x64', 'runtime:bench-a', 'runtime:bench-b', 'runtime:bench-c']

/**
 * `tuned`: the node's own DHT settings and join/dedupe logic (host.ts); otherwise kad-dht's
 * defaults as the node used them before, for comparison in the same run.
 */
async function dhtHost (tuned: boolean): Promise<DhtHost> {
  const host = await createLibp2p({
    addresses: { listen: [LISTEN.quic, LISTEN.tcp] },
    transports: [quic({ maxIdleTimeout: QUIC_IDLE_TIMEOUT_MS, keepAliveInterval: QUIC_KEEPALIVE_MS }), tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Every host shares 127.0.0.1: the per-IP inbound limit (5/s) would refuse most of them.
    connectionManager: { inboundConnectionThreshold: 100_000, maxConnections: 300, ...(tuned ? { addressSorter: quicFirst } : {}) },
    ...(tuned ? { connectionMonitor: CONNECTION_MONITOR } : {}),
    services: {
      identify: identify(),
      ping: ping(tuned ? PING_INIT : {}),
      dht: kadDHT(tuned ? dhtInit(true) : { protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper })
    }
  }) as unknown as DhtHost
  if (tuned) {
    const untune = tuneDht(host)
    const stop = host.stop.bind(host)
    host.stop = async () => { untune.stop(); await stop() }
  }
  return host
}

const tableSize = (h: DhtHost): number => (h.services.dht as unknown as { routingTable: { size: number } }).routingTable.size

export async function dhtFigures (n: number, keyCount: number, options: { tuned?: boolean, fillTimeoutMs?: number } = {}): Promise<DhtFigures> {
  const tuned = options.tuned ?? true
  const fillTimeoutMs = options.fillTimeoutMs ?? 60_000
  const rssBefore = process.memoryUsage().rss
  const hosts: DhtHost[] = []
  try {
    for (let i = 0; i < n; i += 10) hosts.push(...await Promise.all(Array.from({ length: Math.min(10, n - i) }, async () => await dhtHost(tuned))))
    // Join as a node does with one bootstrap address: the seed's QUIC address.
    const seed = hosts[0]!.getMultiaddrs().find((a) => a.toString().includes('/quic'))!
    const t0 = performance.now()
    for (let i = 1; i < n; i += 10) await Promise.all(hosts.slice(i, i + 10).map(async (h) => await h.dial(seed)))
    // The target: a median table of ≥ 90% of the network; wait for every table to get there.
    const want = Math.ceil((n - 1) * 0.9)
    // Wait until every table holds `want` peers, or until no table has grown for 5 s.
    let filled = false
    let total = -1
    let grewAt = performance.now()
    while (performance.now() - t0 < fillTimeoutMs && performance.now() - grewAt < 5000) {
      const sizes = hosts.map(tableSize)
      if (sizes.every((s) => s >= want)) { filled = true; break }
      const sum = sizes.reduce((a, b) => a + b, 0)
      if (sum > total) { total = sum; grewAt = performance.now() }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const fillMs = (filled ? performance.now() : grewAt) - t0
    const sizes = hosts.map(tableSize).sort((a, b) => a - b)

    const provide: number[] = []
    const lookups: number[] = []
    const network: number[] = []
    let failures = 0
    for (let k = 0; k < keyCount; k++) {
      const key = await capabilityKey(KEYS[k % KEYS.length]!)
      const provider = hosts[(k * 7 + 3) % n]!
      let t = performance.now()
      for await (const _ of provider.services.dht.provide(key, { signal: AbortSignal.timeout(30_000) })) { /* drain */ }
      provide.push(performance.now() - t)
      for (const looker of hosts) {
        if (looker === provider) continue
        let ms = -1
        let local = false
        t = performance.now()
        try {
          for await (const ev of looker.services.dht.findProviders(key, { signal: AbortSignal.timeout(10_000) })) {
            if (ev.name === 'PROVIDER' && ev.providers.some((p) => p.id.equals(provider.peerId))) {
              ms = performance.now() - t
              local = ev.from.equals(looker.peerId)
              break
            }
          }
        } catch {}
        if (ms < 0) { failures++; continue }
        lookups.push(ms)
        if (!local) network.push(ms)
      }
    }
    const mibPerNode = (process.memoryUsage().rss - rssBefore) / n / (1 << 20)
    const transports: Record<string, number> = {}
    const pairs = new Set<string>()
    let conns = 0
    for (const h of hosts) {
      const self = h.peerId.toString()
      for (const c of h.getConnections()) {
        if (c.status !== 'open') continue
        const kind = c.remoteAddr.toString().includes('/quic') ? 'quic' : 'tcp'
        transports[kind] = (transports[kind] ?? 0) + 1
        const other = c.remotePeer.toString()
        pairs.add(self < other ? `${self}|${other}` : `${other}|${self}`)
        conns++
      }
    }
    // Each connection is counted once at each end.
    const perPair = pairs.size === 0 ? 0 : conns / 2 / pairs.size
    return { nodes: n, fillMs, filled, tableMin: sizes[0]!, tableMedian: sizes[Math.floor(n / 2)]!, provide, lookups, network, failures, transports, perPair, mibPerNode }
  } finally {
    await Promise.all(hosts.map(async (h) => await h.stop()))
  }
}
