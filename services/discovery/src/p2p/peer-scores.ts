/**
 * How remote jobs went on each peer, as this node saw them: successes, failures and a smoothed
 * round trip. Peer choice for remote jobs orders peers by it (fewest failures, then fastest).
 * Bounded: at most `maxPeers` peers (least recently used dropped first).
 */

/** Peers whose job history is kept. */
export const DEFAULT_MAX_SCORED_PEERS = 1024
/** Weight of the newest round trip in the smoothed latency (exponential moving average). */
export const LATENCY_WEIGHT = 0.2
/** Latency assumed for a peer with no job history yet, ms (ranks it among ordinary peers). */
export const UNKNOWN_LATENCY_MS = 100
/** One failure outweighs this many ms of latency when peers are ordered. */
export const FAILURE_PENALTY_MS = 1000

export interface PeerHistory { successes: number, failures: number, latencyMs: number | null }

export class PeerScores {
  private readonly history = new Map<string, PeerHistory>()
  private readonly maxPeers: number

  constructor (init: { maxPeers?: number } = {}) {
    this.maxPeers = init.maxPeers ?? DEFAULT_MAX_SCORED_PEERS
  }

  get size (): number { return this.history.size }

  get (peer: string): PeerHistory | undefined { return this.history.get(peer) }

  /** A job on `peer` ended: ok or not, with its round trip when it came back. */
  note (peer: string, ok: boolean, latencyMs?: number): void {
    const h = this.history.get(peer) ?? { successes: 0, failures: 0, latencyMs: null }
    if (ok) h.successes++
    else h.failures++
    if (latencyMs !== undefined) h.latencyMs = h.latencyMs === null ? latencyMs : h.latencyMs * (1 - LATENCY_WEIGHT) + latencyMs * LATENCY_WEIGHT
    this.history.delete(peer)
    this.history.set(peer, h)
    if (this.history.size > this.maxPeers) this.history.delete(this.history.keys().next().value!)
  }

  /** `peers` best first: fewest failures, then lowest latency. */
  rank (peers: readonly string[]): string[] {
    const cost = (p: string): number => { const h = this.history.get(p); return (h?.failures ?? 0) * FAILURE_PENALTY_MS + (h?.latencyMs ?? UNKNOWN_LATENCY_MS) }
    return [...peers].sort((a, b) => cost(a) - cost(b))
  }
}
