/**
 * What the node knows about its own place on the network, for `phase doctor`: its addresses and
 * how each was learnt (listening, observed by a peer, mapped), whether AutoNAT confirmed any,
 * whether peers see it at another address than it listens on (a NAT), relay reservations,
 * bootstrap peers reachable or not, the DHT's routing table, and clock skew against peers.
 *
 * Everything here is bounded: observed addresses kept (`MAX_OBSERVED`), bootstrap entries
 * checked (`MAX_BOOTSTRAP_CHECKED`, each dial with a deadline) and peers asked for the time
 * (`MAX_CLOCK_PEERS`, with a deadline).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { TIME_PROTOCOL, askTime, summarizeSkew, type ClockSample } from './clock.ts'

/** Addresses peers reported seeing this node at (identify), newest kept. */
export const MAX_OBSERVED = 16
/** Bootstrap entries a report checks. */
export const MAX_BOOTSTRAP_CHECKED = 16
/** A bootstrap peer not connected is dialled with this deadline. */
export const BOOTSTRAP_DIAL_MS = 3_000
/** Connected peers asked for their time. */
export const MAX_CLOCK_PEERS = 8
/** How long the time questions may take together. */
export const CLOCK_DEADLINE_MS = 2_000

export type Reachability = 'public' | 'relayed' | 'private' | 'offline'

export interface AddressReport {
  address: string
  /** How the node learnt it: listening ('transport'), seen by a peer ('observed'), mapped, announced. */
  type: string
  /** Confirmed dialable (AutoNAT, or a transport address libp2p trusts). */
  verified: boolean
}

export interface BootstrapReport {
  address: string
  peer_id: string | null
  connected: boolean
  reachable: boolean
  error: string | null
}

export interface NetworkReport {
  listen_addresses: string[]
  announced_addresses: string[]
  addresses: AddressReport[]
  reachability: Reachability
  nat: {
    /** AutoNAT's verdict on the addresses peers observed: some confirmed dialable, none, or no observed address yet. */
    autonat: 'confirmed' | 'unconfirmed' | 'no_observations'
    /** Peers see this node at an IP it does not listen on; null when no peer said. */
    behind_nat: boolean | null
    observed_addresses: string[]
  }
  relay_reservations: string[]
  bootstrap: BootstrapReport[]
  peers_connected: number
  dht_routing_table_size: number
  clock: {
    peers_asked: number
    peers_answered: number
    median_skew_ms: number | null
    max_abs_skew_ms: number | null
    samples: Array<{ peer_id: string, skew_ms: number, rtt_ms: number }>
  }
}

type Host = Pick<Libp2p, 'peerId' | 'getMultiaddrs' | 'getConnections' | 'dial' | 'dialProtocol' | 'addEventListener'> & {
  components: { addressManager: { getListenAddrs: () => Multiaddr[], getAddressesWithMetadata: () => Array<{ multiaddr: Multiaddr, verified: boolean, type: string }> } }
  services: { dht?: unknown }
}

/** Collects what identify tells about this node, and writes reports on demand. */
export class NetworkDoctor {
  private readonly host: Host
  private readonly bootstrapList: readonly string[]
  private readonly observed = new Map<string, number>()

  constructor (host: Host, init: { bootstrap: readonly string[] }) {
    this.host = host
    this.bootstrapList = init.bootstrap
    host.addEventListener('peer:identify', (e) => {
      const seen = (e.detail as { observedAddr?: Multiaddr }).observedAddr
      // Seen over a relayed connection, a node is "at the relay": that says nothing of a NAT.
      if (seen === undefined || seen.toString().includes('/p2p-circuit')) return
      const key = seen.toString()
      this.observed.delete(key)
      this.observed.set(key, Date.now())
      while (this.observed.size > MAX_OBSERVED) this.observed.delete(this.observed.keys().next().value!)
    })
  }

  async report (options: { signal?: AbortSignal } = {}): Promise<NetworkReport> {
    const host = this.host
    const announced = host.getMultiaddrs().map((a) => a.toString())
    const addresses = host.components.addressManager.getAddressesWithMetadata().map((a) => ({ address: a.multiaddr.toString(), type: a.type, verified: a.verified }))
    // What it listens on, as bound (ports and wildcards resolved); the configured form if none yet.
    const circuit = (a: string): boolean => a.includes('/p2p-circuit')
    const transport = addresses.filter((a) => a.type === 'transport' && !circuit(a.address)).map((a) => a.address)
    const listen = transport.length > 0 ? transport : host.components.addressManager.getListenAddrs().map(String)
    const relay = announced.filter((a) => a.includes('/p2p-circuit'))
    const observed = [...this.observed.keys()].reverse()
    // The IPs it listens on, wildcards expanded to the interfaces' addresses (transport addresses).
    const ownIps = new Set(transport.map((a) => ipOf(multiaddr(a))).filter((ip): ip is string => ip !== undefined))
    const observedIps = observed.map((a) => ipOf(multiaddr(a))).filter((ip): ip is string => ip !== undefined)
    const behindNat = observedIps.length === 0 ? null : observedIps.some((ip) => !ownIps.has(ip))
    const mapped = addresses.filter((a) => a.type !== 'transport' && !a.address.includes('/p2p-circuit'))
    const autonat = mapped.length === 0 ? 'no_observations' : mapped.some((a) => a.verified) ? 'confirmed' : 'unconfirmed'
    const [bootstrap, clock] = await Promise.all([this.checkBootstrap(options.signal), this.askClocks(options.signal)])
    return {
      listen_addresses: listen,
      announced_addresses: announced,
      addresses,
      reachability: reachability(addresses, relay, behindNat, host.getConnections().length),
      nat: { autonat, behind_nat: behindNat, observed_addresses: observed },
      relay_reservations: relay,
      bootstrap,
      peers_connected: new Set(host.getConnections().map((c) => c.remotePeer.toString())).size,
      dht_routing_table_size: (host.services.dht as { routingTable?: { size: number } } | undefined)?.routingTable?.size ?? 0,
      clock
    }
  }

  private async checkBootstrap (signal?: AbortSignal): Promise<BootstrapReport[]> {
    return await Promise.all(this.bootstrapList.slice(0, MAX_BOOTSTRAP_CHECKED).map(async (address): Promise<BootstrapReport> => {
      let ma: Multiaddr
      try { ma = multiaddr(address) } catch { return { address, peer_id: null, connected: false, reachable: false, error: 'not a multiaddr' } }
      const id = ma.getComponents().find((c) => c.name === 'p2p')?.value ?? null
      const peer = id === null ? undefined : peerIdFromString(id)
      const connected = peer !== undefined && this.host.getConnections(peer).length > 0
      if (connected) return { address, peer_id: id, connected, reachable: true, error: null }
      try {
        const timeout = AbortSignal.timeout(BOOTSTRAP_DIAL_MS)
        await this.host.dial(ma, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) })
        return { address, peer_id: id, connected: false, reachable: true, error: null }
      } catch (err) {
        return { address, peer_id: id, connected: false, reachable: false, error: (err as Error).name ?? 'Error' }
      }
    }))
  }

  private async askClocks (signal?: AbortSignal): Promise<NetworkReport['clock']> {
    const peers: PeerId[] = []
    for (const c of this.host.getConnections()) {
      if (peers.length >= MAX_CLOCK_PEERS) break
      if (c.status === 'open' && !peers.some((p) => p.equals(c.remotePeer))) peers.push(c.remotePeer)
    }
    const deadline = AbortSignal.timeout(CLOCK_DEADLINE_MS)
    const s = signal === undefined ? deadline : AbortSignal.any([signal, deadline])
    const answers = await Promise.allSettled(peers.map(async (peer) => await askTime(async (sig) => await this.host.dialProtocol(peer, TIME_PROTOCOL, { signal: sig, runOnLimitedConnection: true }) as Stream, peer, { signal: s })))
    const samples = answers.filter((a): a is PromiseFulfilledResult<ClockSample> => a.status === 'fulfilled').map((a) => a.value)
    const summary = summarizeSkew(samples)
    return {
      peers_asked: peers.length,
      peers_answered: samples.length,
      median_skew_ms: summary === undefined ? null : Math.round(summary.medianMs),
      max_abs_skew_ms: summary === undefined ? null : Math.round(summary.maxAbsMs),
      samples: samples.map((x) => ({ peer_id: x.peer, skew_ms: Math.round(x.skewMs), rtt_ms: Math.round(x.rttMs * 10) / 10 }))
    }
  }
}

function ipOf (a: Multiaddr): string | undefined {
  return a.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
}

const PRIVATE_V4 = [/^10\./, /^192\.168\./, /^172\.(1[6-9]|2\d|3[01])\./, /^127\./, /^169\.254\./, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./]

/** True for loopback, private, link-local and CGNAT addresses (and their IPv6 kin). */
export function isPrivateIp (ip: string): boolean {
  if (ip.includes(':')) return ip === '::1' || /^f[cd]/i.test(ip) || /^fe80/i.test(ip)
  return PRIVATE_V4.some((r) => r.test(ip))
}

/**
 * Public: a confirmed address others can dial, or a listening address in public address space
 * with no peer saying otherwise. Relayed: none of that, but a relay reservation. Private: peers
 * cannot open a connection to it (a NAT, or private address space only). Offline: no address.
 */
export function reachability (addresses: readonly AddressReport[], relay: readonly string[], behindNat: boolean | null, connections: number): Reachability {
  const direct = addresses.filter((a) => !a.address.includes('/p2p-circuit'))
  if (direct.length === 0 && relay.length === 0) return connections > 0 ? 'private' : 'offline'
  const publicIp = (a: AddressReport): boolean => { const ip = ipOf(multiaddr(a.address)); return ip !== undefined && !isPrivateIp(ip) }
  if (direct.some((a) => a.type !== 'transport' && a.verified && publicIp(a))) return 'public'
  if (behindNat !== true && direct.some((a) => a.type === 'transport' && publicIp(a))) return 'public'
  if (relay.length > 0) return 'relayed'
  return 'private'
}

export type { ClockSample }
