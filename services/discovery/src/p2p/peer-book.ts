/**
 * Whether other nodes are there now. The capability cache serves a record only for a peer that
 * is connected and not known gone here, so a killed node drops out of FindExecutors as soon as
 * its connection does (TCP at once, QUIC within its idle timeout), not when its record expires
 * 10 minutes later. A peer on a QUIC
 * connection is alive (QUIC's keep-alive is the check); one on TCP whose last sign of life is
 * older than `freshMs` is pinged before it is offered. One that does not answer, or whose
 * connection closed, is marked gone: left out without being dialed again for `goneMs`, unless
 * it shows up (connects, answers) first.
 *
 * Bounded: at most `maxPeers` entries in each map (least recently used dropped first).
 */

/** A sign of life this recent makes a ping unnecessary, ms. */
export const DEFAULT_FRESH_MS = 5000
/** Longest wait for a ping, ms. */
export const DEFAULT_PING_TIMEOUT_MS = 1000
/** A gone peer is left out, not dialed, this long unless it shows up, ms. */
export const DEFAULT_GONE_MS = 30_000
/** Peers tracked (seen and gone, each). */
export const DEFAULT_MAX_PEERS = 1024

export interface PeerBookHost {
  /**
   * The peer's best open connection: 'live' when its transport notices a silent peer by itself
   * within seconds (QUIC: keep-alive every second, idle timeout 3 s), 'open' for one that can
   * stay open long after the peer is gone (TCP to a host cut off the network), else undefined.
   */
  connection: (peer: string) => 'live' | 'open' | undefined
  /** A ping round trip to the peer (dials when not connected); rejects when it does not answer. */
  ping: (peer: string, signal: AbortSignal) => Promise<unknown>
  /** Called when a peer is marked gone: what was kept of it goes (its capability record). */
  forget?: (peer: string) => void
}

export interface PeerBookInit {
  /** A sign of life this recent makes a ping unnecessary, ms. Default: DEFAULT_FRESH_MS (5000). */
  freshMs?: number
  /** Longest wait for a ping, ms. Default: DEFAULT_PING_TIMEOUT_MS (1000). */
  pingTimeoutMs?: number
  /** A gone peer is left out, not dialed, this long unless it shows up, ms. Default: DEFAULT_GONE_MS (30000). */
  goneMs?: number
  /** Peers tracked. Default: DEFAULT_MAX_PEERS (1024). */
  maxPeers?: number
}

export class PeerBook {
  private readonly host: PeerBookHost
  private readonly init: Required<PeerBookInit>
  private readonly seenAt = new Map<string, number>()
  private readonly goneAt = new Map<string, number>()
  private readonly pings = new Map<string, Promise<boolean>>()

  constructor (host: PeerBookHost, init: PeerBookInit = {}) {
    this.host = host
    this.init = { freshMs: DEFAULT_FRESH_MS, pingTimeoutMs: DEFAULT_PING_TIMEOUT_MS, goneMs: DEFAULT_GONE_MS, maxPeers: DEFAULT_MAX_PEERS, ...init }
  }

  /** True when the peer is connected and not known gone (its capability record may be served). */
  usable (peer: string, now = Date.now()): boolean {
    return !this.isGone(peer, now) && this.host.connection(peer) !== undefined
  }

  /** A sign of life: a connection opened, a stream answered, a ping came back. */
  seen (peer: string, now = Date.now()): void {
    this.goneAt.delete(peer)
    touch(this.seenAt, peer, now, this.init.maxPeers)
  }

  /** The peer's connection closed or it failed to answer: its record goes, and it is left out for a while. */
  gone (peer: string, now = Date.now()): void {
    this.host.forget?.(peer)
    this.seenAt.delete(peer)
    touch(this.goneAt, peer, now, this.init.maxPeers)
  }

  /** True while a peer marked gone has shown no sign of life. */
  isGone (peer: string, now = Date.now()): boolean {
    const at = this.goneAt.get(peer)
    if (at === undefined) return false
    if (now - at < this.init.goneMs) return true
    this.goneAt.delete(peer)
    return false
  }

  /**
   * True when the peer is there now: on a live (QUIC) connection, or seen within `freshMs` on
   * an open one, else it answered a ping within `pingTimeoutMs`. A gone peer is not dialed:
   * false at once.
   */
  async alive (peer: string, signal?: AbortSignal, now = Date.now()): Promise<boolean> {
    if (this.isGone(peer, now)) return false
    const connection = this.host.connection(peer)
    if (connection === 'live') return true
    const seen = this.seenAt.get(peer)
    if (seen !== undefined && now - seen < this.init.freshMs && connection === 'open') return true
    let p = this.pings.get(peer)
    if (p === undefined) {
      p = this.probe(peer)
      this.pings.set(peer, p)
      void p.finally(() => { this.pings.delete(peer) })
    }
    if (signal === undefined) return await p
    return await Promise.race([p, new Promise<boolean>((resolve) => {
      if (signal.aborted) resolve(false)
      signal.addEventListener('abort', () => { resolve(false) }, { once: true })
    })])
  }

  private async probe (peer: string): Promise<boolean> {
    try {
      await this.host.ping(peer, AbortSignal.timeout(this.init.pingTimeoutMs))
      this.seen(peer)
      return true
    } catch {
      this.gone(peer)
      return false
    }
  }
}

/** Sets `key` as the most recently used entry, dropping the least recently used beyond `max`. */
function touch (map: Map<string, number>, key: string, value: number, max: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > max) map.delete(map.keys().next().value!)
}
