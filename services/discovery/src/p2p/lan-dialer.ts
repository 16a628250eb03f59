/**
 * Peers found on the LAN are dialled. libp2p only records what a discovery module reports: there
 * has been no auto-dial since libp2p 1.0 (bootstrap peers are kept by a keep-alive tag, mDNS
 * peers by nothing), so three LAN nodes with mDNS on and no bootstrap list would each log "peer
 * discovered" for the other two and stay at 0 peers. Only peers reported by mDNS are dialled
 * here (not everything the DHT mentions: that would be a dial per routing-table entry).
 *
 * A LAN is not trusted more than the internet: anyone on it can answer mDNS queries with as many
 * made-up peers as they like. So at most `maxInflight` dials run at once (each with a deadline),
 * at most `maxQueued` wait (the rest are dropped until the next announcement: mDNS repeats
 * itself every few seconds), a peer whose dial failed waits `redialBackoffMs` before the next
 * try (remembered for at most `maxRemembered` peers), and no dial starts once the node holds
 * `maxConnections` connections.
 */
import type { PeerId, PeerInfo, PeerDiscovery, PeerDiscoveryEvents, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '@phase-network/process'

/** Dials of LAN peers in flight at once. */
export const LAN_MAX_INFLIGHT_DIALS = 4
/** LAN peers waiting for a dial; more announcements than this are dropped until mDNS repeats. */
export const LAN_MAX_QUEUED = 64
/** How long one dial may take: a LAN answers in milliseconds; a made-up peer never does. */
export const LAN_DIAL_TIMEOUT_MS = 5_000
/** A peer whose dial failed is not dialled again for this long. */
export const LAN_REDIAL_BACKOFF_MS = 60_000
/** Failed peers remembered (oldest forgotten first). */
export const LAN_MAX_REMEMBERED = 1_024

export interface LanDialerInit {
  maxInflight?: number
  maxQueued?: number
  dialTimeoutMs?: number
  redialBackoffMs?: number
  maxRemembered?: number
  /** No dial starts once the host holds this many connections. */
  maxConnections: number
  now?: () => number
}

/** What the dialer uses of the libp2p host. */
export interface LanDialerHost {
  peerId: PeerId
  dial: (addresses: Multiaddr[], options: { signal: AbortSignal }) => Promise<unknown>
  getConnections: (peer?: PeerId) => unknown[]
}

export class LanDialer {
  private host?: LanDialerHost
  private readonly queue = new Map<string, PeerInfo>()
  private readonly inflight = new Set<string>()
  private readonly failedAt = new Map<string, number>()
  private readonly stopping = new AbortController()
  private readonly maxInflight: number
  private readonly maxQueued: number
  private readonly dialTimeoutMs: number
  private readonly redialBackoffMs: number
  private readonly maxRemembered: number
  private readonly maxConnections: number
  private readonly now: () => number
  /** Counters for status and tests. */
  readonly counts = { found: 0, dialled: 0, connected: 0, failed: 0, dropped: 0 }

  private readonly log: Pick<Logger, 'debug' | 'info'>

  constructor (log: Pick<Logger, 'debug' | 'info'>, init: LanDialerInit) {
    this.log = log
    this.maxInflight = init.maxInflight ?? LAN_MAX_INFLIGHT_DIALS
    this.maxQueued = init.maxQueued ?? LAN_MAX_QUEUED
    this.dialTimeoutMs = init.dialTimeoutMs ?? LAN_DIAL_TIMEOUT_MS
    this.redialBackoffMs = init.redialBackoffMs ?? LAN_REDIAL_BACKOFF_MS
    this.maxRemembered = init.maxRemembered ?? LAN_MAX_REMEMBERED
    this.maxConnections = init.maxConnections
    this.now = init.now ?? Date.now
  }

  /**
   * Wraps a discovery module's factory (mDNS) so every peer it reports is offered to this
   * dialer; peers reported before `attach()` wait in the (bounded) queue.
   */
  wrap<C>(factory: (components: C) => PeerDiscovery): (components: C) => PeerDiscovery {
    return (components: C) => {
      const discovery = factory(components) as PeerDiscovery & TypedEventTarget<PeerDiscoveryEvents>
      discovery.addEventListener('peer', (e) => { this.found(e.detail) })
      return discovery
    }
  }

  /** Starts dialling through `host` (the libp2p node, once it exists). */
  attach (host: LanDialerHost): void {
    this.host = host
    this.pump()
  }

  stop (): void {
    this.stopping.abort()
    this.queue.clear()
  }

  /** A peer reported on the LAN. */
  found (peer: PeerInfo): void {
    if (this.stopping.signal.aborted) return
    this.counts.found++
    const id = peer.id.toString()
    if (this.host !== undefined && id === this.host.peerId.toString()) return
    if (this.inflight.has(id) || this.queue.has(id)) return
    const failed = this.failedAt.get(id)
    if (failed !== undefined && this.now() - failed < this.redialBackoffMs) return
    if (this.host !== undefined && this.host.getConnections(peer.id).length > 0) return
    if (peer.multiaddrs.length === 0) return
    if (this.queue.size >= this.maxQueued) { this.counts.dropped++; return }
    this.queue.set(id, peer)
    this.pump()
  }

  private pump (): void {
    const host = this.host
    if (host === undefined) return
    while (this.inflight.size < this.maxInflight && this.queue.size > 0) {
      if (host.getConnections().length >= this.maxConnections) return
      const [id, peer] = this.queue.entries().next().value as [string, PeerInfo]
      this.queue.delete(id)
      if (host.getConnections(peer.id).length > 0) continue
      this.inflight.add(id)
      this.counts.dialled++
      const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.dialTimeoutMs)])
      // The addresses mDNS reported, pinned to the PeerId it reported (a dial that reaches
      // another key fails): libp2p stores them in its peer store only asynchronously.
      const addresses = peer.multiaddrs.map((a) => a.getComponents().some((c) => c.name === 'p2p') ? a : a.encapsulate(`/p2p/${id}`))
      host.dial(addresses, { signal }).then(() => {
        this.counts.connected++
        this.failedAt.delete(id)
        // At debug: the host's connection line counts it (anyone on the LAN decides how often).
        this.log.debug({ event: 'lan-dial', peer: id }, 'connected to a peer found on the LAN')
      }, (err: Error) => {
        this.counts.failed++
        this.remember(id)
        this.log.debug({ event: 'lan-dial-failed', peer: id, err: err.name }, 'dial of a peer found on the LAN failed')
      }).finally(() => {
        this.inflight.delete(id)
        this.pump()
      })
    }
  }

  private remember (id: string): void {
    this.failedAt.delete(id)
    this.failedAt.set(id, this.now())
    while (this.failedAt.size > this.maxRemembered) this.failedAt.delete(this.failedAt.keys().next().value!)
  }
}
