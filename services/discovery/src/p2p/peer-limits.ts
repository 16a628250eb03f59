/**
 * Per-peer protection of the job protocol: at most `concurrency` jobs of one peer at a time and
 * a token bucket of `perSecond` jobs (burst = 2 s worth). One flooding peer is refused with
 * queue_full while others keep being served. Memory stays bounded: idle peers are forgotten.
 */
import { QueueFullError } from '@phase-network/protocol'

/** Peers tracked at once by default (idle ones dropped first). */
export const DEFAULT_MAX_LIMITED_PEERS = 10_000
/** A peer's token bucket holds this many seconds' worth of jobs (its burst). */
export const BURST_SECONDS = 2
const MS_PER_S = 1000

interface Entry { inFlight: number, tokens: number, at: number }

export interface PeerLimiterInit {
  concurrency: number
  perSecond: number
  /** Peers tracked at once; idle ones are dropped first. Default: DEFAULT_MAX_LIMITED_PEERS (10000). */
  maxPeers?: number
}

export class PeerLimiter {
  private readonly peers = new Map<string, Entry>()
  private readonly init: Required<PeerLimiterInit>

  constructor (init: PeerLimiterInit) {
    this.init = { maxPeers: DEFAULT_MAX_LIMITED_PEERS, ...init }
  }

  /** Takes a slot for `peer` or throws QueueFullError; call the returned function when done. */
  acquire (peer: string, now = Date.now()): () => void {
    const burst = this.init.perSecond * BURST_SECONDS
    const e = this.peers.get(peer) ?? { inFlight: 0, tokens: burst, at: now }
    e.tokens = Math.min(burst, e.tokens + (now - e.at) * this.init.perSecond / MS_PER_S)
    e.at = now
    if (e.inFlight >= this.init.concurrency) throw new QueueFullError(`peer has ${e.inFlight} jobs running here, the limit is ${this.init.concurrency}`)
    if (e.tokens < 1) throw new QueueFullError(`peer sends more than ${this.init.perSecond} jobs/s`)
    e.tokens -= 1
    e.inFlight++
    this.peers.delete(peer)
    this.peers.set(peer, e)
    this.trim()
    let released = false
    return () => {
      if (released) return
      released = true
      e.inFlight--
    }
  }

  get size (): number { return this.peers.size }
  /** Jobs of one peer allowed at once. */
  get concurrency (): number { return this.init.concurrency }

  private trim (): void {
    if (this.peers.size <= this.init.maxPeers) return
    for (const [peer, e] of this.peers) {
      if (this.peers.size <= this.init.maxPeers) return
      if (e.inFlight === 0) this.peers.delete(peer)
    }
  }
}
