/**
 * The node's libp2p host: QUIC (preferred) and TCP with Noise + yamux, identify, ping, a private
 * Kademlia DHT (`/phase/kad/1.0.0`, so Phase nodes form their own network), bootstrap from the
 * config only (no built-in public nodes), mDNS on LANs, AutoNAT, circuit relay v2 (client;
 * server opt-in), DCUtR, and UPnP only when asked for.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { quic } from '@chainsafe/libp2p-quic'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayTransport, circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import type { AddressSorter, PrivateKey, PeerDiscovery } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { EventLog, type Logger } from '@phase-network/process'
import { BoundedDatastore, type BoundedDatastoreInit } from './bounded-datastore.ts'
import { dedupeConnections } from './connection-dedupe.ts'
import { admitConnected, fillOnJoin, skipKnownContacts, type ContactSource, type ContactTable, type JoinTable } from './dht-join.ts'
import { LanDialer } from './lan-dialer.ts'
import { NetworkDoctor } from './diagnostics.ts'
import { TIME_PROTOCOL, TIME_MAX_INBOUND_STREAMS, serveTime } from './clock.ts'
import { limitDhtRequests, type DhtLimits, type DhtRpc } from './peer-limits.ts'
import { SHUN_MS, ShunList } from './peer-shun.ts'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'

export const DHT_PROTOCOL = '/phase/kad/1.0.0'
/** Where the DHT keeps its records in the datastore (kad-dht's default). */
const DHT_DATASTORE_PREFIX = '/dht'
export const QUIC_IDLE_TIMEOUT_MS = 3000
export const QUIC_KEEPALIVE_MS = 1000

export interface HostInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on. */
  listen: readonly string[]
  /** Multiaddrs (with /p2p/<id>) to join through. */
  bootstrap: readonly string[]
  /** Discover peers on the LAN. */
  mdns: boolean
  /** Serve as a circuit relay for others. */
  relayServer: boolean
  /** Map ports on the router with UPnP (sends multicast: opt-in). */
  upnp: boolean
  /** Keep private and loopback addresses in the DHT (LANs, tests). */
  privateAddresses: boolean
  /** Inbound connections allowed per second from one IP (loopback clusters need more). */
  inboundPerSecond: number
  maxConnections: number
  /** What strangers may store here (DHT records, peer-store entries): see bounded-datastore.ts. */
  store?: BoundedDatastoreInit
  /** Bounds on peers' inbound DHT requests, and when a peer past them is cut off. Default: peer-limits.ts's and peer-shun.ts's. */
  dhtLimits?: Pick<DhtLimits, 'perPeer' | 'all' | 'shun'>
}

export type PhaseLibp2p = Libp2p<{ dht: KadDHT, identify: ReturnType<ReturnType<typeof identify>>, ping: unknown }> & {
  /** The host's datastore, for its usage figures. */
  datastore: BoundedDatastore
  /** Inbound DHT requests refused since start, and peers cut off now (peer-limits.ts, peer-shun.ts). */
  dhtBounds: { refused: () => number, cutOff: () => number }
  /** What `phase doctor` reports of the network (diagnostics.ts). */
  doctor: NetworkDoctor
}

/**
 * The host's optional parts, loaded by createHost only when configured (bootstrap peers, mDNS,
 * UPnP); the compile-cache fill loads them all so a start that needs one finds it compiled.
 */
export const optionalParts = (): Array<Promise<unknown>> => [import('@libp2p/bootstrap'), import('@libp2p/mdns'), import('@libp2p/upnp-nat')]

export async function createHost (init: HostInit, components: { logger: Logger }): Promise<PhaseLibp2p> {
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = [] // eslint-disable-line @typescript-eslint/no-explicit-any
  // What is off is not loaded (UPnP's port mapper alone is ~60 ms of a cold start and its memory).
  if (init.bootstrap.length > 0) peerDiscovery.push((await import('@libp2p/bootstrap')).bootstrap({ list: [...init.bootstrap] }))
  // mDNS only reports peers; the LAN dialer connects to them (lan-dialer.ts).
  const lan = init.mdns ? new LanDialer(components.logger.child({ component: 'lan' }), { maxConnections: Math.floor(init.maxConnections / 2) }) : undefined
  if (lan !== undefined) peerDiscovery.push(lan.wrap((await import('@libp2p/mdns')).mdns()))
  const services: Record<string, unknown> = {
    identify: identify(),
    ping: ping(PING_INIT),
    dht: kadDHT(dhtInit(init.privateAddresses)),
    autoNAT: autoNAT(),
    dcutr: dcutr()
  }
  if (init.relayServer) services.relay = circuitRelayServer()
  if (init.upnp) services.upnp = (await import('@libp2p/upnp-nat')).uPnPNAT()
  // Peers cut off for flooding (peer-shun.ts): no connection from them or to them meanwhile.
  const shunned = new ShunList(init.dhtLimits?.shun)
  const isShunned = (peer: { toString: () => string }): boolean => shunned.has(peer.toString())
  const datastore = new BoundedDatastore({ ...init.store, dhtPrefix: DHT_DATASTORE_PREFIX, self: peerIdFromPrivateKey(init.privateKey).toString() })
  const node = await createLibp2p({
    privateKey: init.privateKey,
    datastore,
    addresses: { listen: [...init.listen] },
    // A vanished peer must be noticed quickly: a job in flight to it fails over to the next
    // peer only once its connection is known dead (QUIC has no RST; default idle timeout 10 s).
    transports: [quic({ maxIdleTimeout: QUIC_IDLE_TIMEOUT_MS, keepAliveInterval: QUIC_KEEPALIVE_MS }), tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    connectionManager: { inboundConnectionThreshold: init.inboundPerSecond, maxConnections: init.maxConnections, addressSorter: quicFirst },
    connectionMonitor: CONNECTION_MONITOR,
    connectionGater: {
      denyDialPeer: isShunned,
      denyInboundEncryptedConnection: isShunned,
      denyOutboundEncryptedConnection: isShunned,
      // Also after the muxer: a connection that passed the checks above just before its peer was cut off.
      denyInboundUpgradedConnection: isShunned,
      denyOutboundUpgradedConnection: isShunned
    },
    services: services as never,
    // Started below, once every listener is attached: the bootstrap dials and their identify
    // exchanges (which tell the doctor where peers see this node) happen during start.
    start: false
  }) as unknown as PhaseLibp2p
  node.datastore = datastore
  node.doctor = new NetworkDoctor(node as never, { bootstrap: init.bootstrap })
  await node.handle(TIME_PROTOCOL, async (stream) => { await serveTime(stream) }, { maxInboundStreams: TIME_MAX_INBOUND_STREAMS, maxOutboundStreams: 1, runOnLimitedConnection: true })
  const log = components.logger
  const tuning = tuneDht(node, log, { limits: init.dhtLimits, shunned })
  node.dhtBounds = { refused: tuning.refused, cutOff: () => shunned.active() }
  lan?.attach(node)
  const stop = node.stop.bind(node)
  // Peers decide how often they connect: a line per period with the counts (every one at debug).
  const connections = new EventLog(log, 'info', 'peers connected and disconnected', { kinds: ['connected', 'disconnected'] })
  node.stop = async () => { lan?.stop(); tuning.stop(); try { await stop() } finally { connections.close() } }
  node.addEventListener('peer:connect', (e) => { connections.note({ event: 'connect', peer: e.detail.toString() }, 'connected') })
  node.addEventListener('peer:disconnect', (e) => { connections.note({ event: 'disconnect', peer: e.detail.toString() }, 'disconnected') })
  node.addEventListener('peer:discovery', (e) => log.debug({ event: 'discovered', peer: e.detail.id.toString() }, 'peer discovered'))
  await node.start()
  return node
}

/**
 * The DHT's settings (shared with the bench, so it measures what a node runs). kad-dht's
 * defaults lose peers during a join: every new contact is pinged before it enters the routing
 * table, through a queue of at most 100 waiting pings (the rest are dropped, QueueFull).
 */
export function dhtInit (privateAddresses: boolean): Parameters<typeof kadDHT>[0] {
  return {
    protocol: DHT_PROTOCOL,
    datastorePrefix: DHT_DATASTORE_PREFIX,
    clientMode: false,
    peerInfoMapper: privateAddresses ? passthroughMapper : removePrivateAddressesMapper,
    // Room for a whole join burst: each lookup answer names up to 20 peers.
    pingNewContactMaxQueueSize: PING_QUEUE,
    alpha: DHT_ALPHA,
    disjointPaths: DHT_PATHS,
    networkDialTimeout: { minTimeout: DHT_REQUEST_MS, maxTimeout: DHT_REQUEST_MS }
  }
}

/**
 * Deadline of one DHT request (dial, stream, answer), ms. kad-dht adapts it from past requests
 * (5–60 s): an aborted one counts twice its time, and a lookup that stops early (it found the
 * provider) aborts the requests still in flight, so after a join the deadline had grown to tens
 * of seconds; then one request that got no answer held a lookup or a provide that long (bench at
 * 50 nodes: one provide in three took 30 s, its 20 ADD_PROVIDERs sent after 27 s). 5 s is
 * kad-dht's own floor and ample for a dial and one exchange.
 */
export const DHT_REQUEST_MS = 5000

/**
 * Requests one DHT lookup keeps in flight on each of its paths (kad-dht 16's default is 10), and
 * its paths (default: alpha, so 10). At 10 × 10 a lookup starts by asking every one of the 20
 * peers closest to the key at once, and in a network of 50 it goes on to ask nearly all of them
 * (each path stops only when its own 20 closest answered): ~20 requests, each answer naming 20
 * peers, each named peer a peer-store merge and a routing-table update here and a peer-store
 * read at the answering end. During a join every node runs several such lookups (fills,
 * announces), the event loops fell seconds behind (p99 lag 1–5 s at 20 nodes), DHT requests
 * on open connections timed out (p50 3–4 s), the pings that admit new contacts failed (at 50
 * nodes: 144 admitted, 3,094 timed out), and tables stalled at a median of 28–40 of 49; later,
 * lookups took p90 ~200 ms of queued answers. Kademlia's α = 3 on one path asks the 3 closest
 * known peers first: with a table that knows the network (the case here) they hold the record,
 * one round trip; a lookup that must walk goes on 3 at a time.
 */
export const DHT_ALPHA = 3
export const DHT_PATHS = 1

/**
 * The ping service allows one outbound ping stream per connection by default: the DHT's
 * routing-table pings and the peer book's liveness pings to the same peer then fail each other
 * (TooManyOutboundProtocolStreams). Peers on kad-dht's default accept 2 inbound.
 */
export const PING_INIT = { maxOutboundStreams: 2, maxInboundStreams: 4 }

/**
 * libp2p's connection monitor pings every connection every 10 s and, by default, aborts one whose
 * ping fails: takes longer than its adaptive timeout (at least 5 s), or is refused because the
 * ping protocol's stream limit on that connection is taken by other pings still open. On a node
 * whose event loop lags (a busy host; a join burst, when every connection is pinged at the same
 * tick) that aborted healthy connections in waves (756 in 70 s at 30 nodes on loopback, even with
 * a 20 s timeout): the DHT lost its contacts and redialed them, and its tables stalled. Liveness
 * does not need it: QUIC's keep-alive and idle timeout run in the transport's own threads (a peer
 * whose event loop is blocked for seconds stays connected, a killed one goes in 3 s), and the
 * peer book pings a TCP peer before offering it (peer-book.ts). What was left of it, a ping
 * stream per connection every 10 s that only measured a round trip nothing reads, is off: a node
 * answering 49 peers' heartbeats and sending its own spent ~1% of a core doing nothing (a 50-node
 * loopback cluster idled at 0.9 cores with it, 0.37 without), and during a join those pings
 * queued beside the DHT's requests (the same cluster's event loops were back under 100 ms lag
 * after 135 s instead of 170 s). TCP connections keep their NAT mappings through yamux's own
 * keep-alive pings (every 30 s); QUIC's keep-alive runs every QUIC_KEEPALIVE_MS.
 */
export const CONNECTION_MONITOR = { enabled: false }

/** Pings of new contacts waiting at once (each a few hundred bytes of state). */
const PING_QUEUE = 1024

/**
 * What kad-dht does not do itself: admit connected peers to the routing table without a ping,
 * pass on only the contacts of a lookup answer that are new (dht-join.ts), fill the table as
 * peers join (dht-join.ts), keep one connection per pair of peers (connection-dedupe.ts), and
 * hold each peer's inbound DHT requests to a rate (peer-limits.ts). Returns what undoes the last
 * four, and the count of requests refused.
 */
export function tuneDht (node: Libp2p<{ dht: KadDHT }>, log?: Logger, bounds: { limits?: HostInit['dhtLimits'], shunned?: ShunList } = {}): { stop: () => void, refused: () => number } {
  const dht = node.services.dht as KadDHT & { routingTable: JoinTable }
  admitConnected(dht.routingTable, (peer) => node.getConnections().some((c) => c.status === 'open' && c.remotePeer.toString() === peer))
  const unskip = skipKnownContacts((dht as unknown as { network: ContactSource }).network, dht.routingTable as unknown as ContactTable, node.peerId.toString())
  const joiner = fillOnJoin(dht, dht.routingTable, node.peerId.toMultihash().bytes)
  const undedupe = dedupeConnections(node)
  // Refusals and cut-offs: a line per period with how many since the last (EventLog).
  const forMs = bounds.limits?.shun?.forMs ?? SHUN_MS
  const refusals = log === undefined ? undefined : new EventLog(log, 'warn', 'DHT requests refused: peers past their rate (a peer refused again and again is disconnected and not let back for shunMs)', { kinds: ['refused', 'shunned'] })
  const limit = limitDhtRequests((dht as unknown as { rpc?: DhtRpc }).rpc, {
    ...bounds.limits,
    onRefused: (peer, reason) => { refusals?.note({ event: 'dht_refused', peer, reason, shunMs: forMs }, 'refused') },
    // Its streams still open while hangUp closes its connections are refused at once.
    isShunned: bounds.shunned === undefined ? undefined : (peer) => bounds.shunned!.has(peer),
    onShun: (peer) => {
      if (bounds.shunned === undefined) return
      bounds.shunned.add(peer, performance.now() + forMs)
      refusals?.note({ event: 'dht_refused', peer, shunMs: forMs }, 'shunned')
      node.hangUp(peerIdFromString(peer)).catch((err: unknown) => { log?.debug({ peer, err: (err as Error).message }, 'could not close a shunned peer\'s connections') })
    }
  })
  if (!limit.installed) log?.warn({ event: 'dht_unbounded' }, "this kad-dht has no inbound request hook: peers' DHT requests are not rate-bound")
  return { stop: () => { joiner.stop(); undedupe(); unskip(); limit.undo(); refusals?.close() }, refused: limit.refused }
}

/**
 * Dial order: direct QUIC first (its own TLS 1.3 handshake dials faster than TCP + Noise, FACTS:
 * 2.7 vs 4.9 ms), then TCP, relayed addresses last. libp2p's default prefers TCP.
 */
export const quicFirst: AddressSorter = (a, b) => {
  const rank = (m: Multiaddr): number => {
    const text = m.toString()
    return text.includes('/p2p-circuit') ? 2 : text.includes('/quic') ? 0 : 1
  }
  const d = rank(a.multiaddr) - rank(b.multiaddr)
  return d < 0 ? -1 : d > 0 ? 1 : 0
}
