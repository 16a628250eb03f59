/**
 * Peers that keep sending past their rate are cut off for a while. The rate limits refuse each
 * request past a peer's bucket, but a refusal is not free: the stream is opened, its protocol
 * negotiated and its message read before the bound is checked, and libp2p caps the streams open
 * on a connection at once, not how fast they come. A peer refused REFUSALS_TO_SHUN times within
 * one SHUN_WINDOW_MS (at the DHT's 100/s: a whole window's allowance sent beyond what it may send;
 * no honest peer comes near it, a 50-node join refused none) has its connections closed, and for SHUN_MS none are
 * accepted from it or dialled to it (the connection gater). A shunned peer comes back on its own.
 *
 * Both maps are bounded: a swarm of PeerIds (free to make) evicts its own oldest entries. Times
 * are performance.now()'s (monotonic): a wall clock stepped back does not lengthen a cut-off.
 */

/** Refusals of one peer within one window that cut it off. */
export const REFUSALS_TO_SHUN = 1000
/** The window refusals are counted in, ms. */
export const SHUN_WINDOW_MS = 10_000
/** How long a cut-off peer stays cut off, ms. */
export const SHUN_MS = 60_000
/** Peers whose refusals are counted, and peers shunned, at most (oldest forgotten first). */
export const MAX_SHUN_PEERS = 4096

export interface ShunInit {
  /** Refusals within one window that cut a peer off. Default: REFUSALS_TO_SHUN. */
  refusals?: number
  /** The window, ms. Default: SHUN_WINDOW_MS. */
  windowMs?: number
  /** How long a peer stays cut off, ms. Default: SHUN_MS. */
  forMs?: number
  /** Peers tracked at once (counted and shunned, each). Default: MAX_SHUN_PEERS. */
  maxPeers?: number
}

/** Counts each peer's refusals in fixed windows; says when one reaches the threshold. */
export class RefusalCounter {
  private readonly counts = new Map<string, { start: number, n: number }>()
  private readonly init: Required<Pick<ShunInit, 'refusals' | 'windowMs' | 'maxPeers'>>

  constructor (init: ShunInit = {}) {
    this.init = { refusals: init.refusals ?? REFUSALS_TO_SHUN, windowMs: init.windowMs ?? SHUN_WINDOW_MS, maxPeers: init.maxPeers ?? MAX_SHUN_PEERS }
  }

  /** One refusal of `peer`; true when it is the one that reaches the threshold (its count starts again). */
  note (peer: string, now = performance.now()): boolean {
    let e = this.counts.get(peer)
    if (e === undefined || now - e.start >= this.init.windowMs) {
      this.counts.delete(peer)
      e = { start: now, n: 0 }
      if (this.counts.size >= this.init.maxPeers) this.counts.delete(this.counts.keys().next().value!)
      this.counts.set(peer, e)
    }
    e.n++
    if (e.n < this.init.refusals) return false
    this.counts.delete(peer)
    return true
  }

  get size (): number { return this.counts.size }
}

/** Peers cut off until a time each. */
export class ShunList {
  private readonly until = new Map<string, number>()
  private readonly maxPeers: number

  constructor (init: Pick<ShunInit, 'maxPeers'> = {}) {
    this.maxPeers = init.maxPeers ?? MAX_SHUN_PEERS
  }

  /** Cuts `peer` off until `untilMs` (on performance.now()'s clock, as `has` reads it). */
  add (peer: string, untilMs: number): void {
    this.until.delete(peer)
    // Every entry lasts as long: the first in the map ends first.
    if (this.until.size >= this.maxPeers) this.until.delete(this.until.keys().next().value!)
    this.until.set(peer, untilMs)
  }

  /** Whether `peer` is cut off now (an ended entry is dropped). */
  has (peer: string, now = performance.now()): boolean {
    const until = this.until.get(peer)
    if (until === undefined) return false
    if (now < until) return true
    this.until.delete(peer)
    return false
  }

  get size (): number { return this.until.size }

  /** Peers cut off now (ended entries dropped on the way). */
  active (now = performance.now()): number {
    for (const [peer, until] of this.until) if (now >= until) this.until.delete(peer)
    return this.until.size
  }
}
