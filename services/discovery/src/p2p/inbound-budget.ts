/**
 * The node's budget of bytes received from peers and not yet done with: one number for all
 * peers, of which one peer may hold half. PeerIds are free, so per-peer limits alone do not
 * bound memory; this does. Every byte a job stream receives is charged as it arrives and given
 * back when the stream ends; a stream whose bytes do not fit is aborted, never buffered.
 *
 * Fairness: when the budget is full, a peer still under its fair share (the budget divided by
 * the peers holding bytes) takes room from the streams of the peer holding the most, which are
 * aborted. Many flooding peers therefore cannot lock out one that sends a small job.
 */
import type { Stream } from '@libp2p/interface'
import { QueueFullError } from '@phase-network/protocol'

/** Share of the budget one peer may hold by default: a single peer can never take it all. */
export const DEFAULT_PEER_SHARE = 0.5

export interface InboundBudgetInit {
  /** Bytes in flight from all peers together. */
  maxBytes: number
  /** Bytes one peer may hold. Default: half of maxBytes. */
  maxPeerBytes?: number
}

/** Gives everything back when called; `free(n)` gives back part of it. */
export type MeterHandle = (() => void) & { free: (n: number) => void }

type Meterable = Pick<Stream, 'addEventListener' | 'removeEventListener' | 'abort'>

interface Meter {
  peer: string
  held: number
  /** Gives its bytes back at once and aborts its stream (preempted). */
  drop: (reason: Error) => void
}

export class InboundBudget {
  readonly maxBytes: number
  readonly maxPeerBytes: number
  private used = 0
  private readonly peers = new Map<string, { held: number, meters: Set<Meter> }>()

  constructor (init: InboundBudgetInit) {
    this.maxBytes = init.maxBytes
    this.maxPeerBytes = init.maxPeerBytes ?? Math.floor(init.maxBytes * DEFAULT_PEER_SHARE)
  }

  /** Bytes held now, all peers together. */
  get inFlight (): number { return this.used }
  /** Peers holding bytes now. */
  get holders (): number { return this.peers.size }

  /**
   * Charges every byte `stream` receives to `peer`, aborting the stream when they do not fit.
   * Call the returned function when the stream is done with: it gives everything back. Its
   * `free(n)` gives back `n` bytes the stream is done with while it stays open (a job served on
   * a reused stream), never more than the stream holds.
   */
  meter (stream: Meterable, peer: string): MeterHandle {
    let done = false
    const meter: Meter = {
      peer,
      held: 0,
      drop: (reason) => {
        if (done) return
        done = true
        stream.removeEventListener('message', onMessage as never)
        this.release(meter)
        stream.abort(reason)
      }
    }
    const onMessage = (evt: { data: { byteLength: number }, stopImmediatePropagation: () => void }): void => {
      if (done) return
      if (this.take(meter, evt.data.byteLength)) return
      // Registered before the reader: the bytes that do not fit never reach its buffer.
      evt.stopImmediatePropagation()
      meter.drop(new QueueFullError(`peers have more than ${this.maxBytes} bytes in flight here (one peer: ${this.maxPeerBytes})`))
    }
    stream.addEventListener('message', onMessage as never)
    const giveBack = (): void => {
      if (done) return
      done = true
      stream.removeEventListener('message', onMessage as never)
      this.release(meter)
    }
    return Object.assign(giveBack, { free: (n: number): void => { if (!done) this.free(meter, n) } })
  }

  /** Gives back up to `n` of the bytes `meter` holds (its stream stays metered). */
  private free (meter: Meter, n: number): void {
    const entry = this.peers.get(meter.peer)
    const bytes = Math.min(n, meter.held)
    if (entry === undefined || bytes <= 0) return
    this.used -= bytes
    entry.held -= bytes
    meter.held -= bytes
  }

  private take (meter: Meter, n: number): boolean {
    const entry = this.peers.get(meter.peer) ?? { held: 0, meters: new Set<Meter>() }
    if (entry.held + n > this.maxPeerBytes) return false
    if (this.used + n > this.maxBytes) {
      const holders = this.peers.size + (this.peers.has(meter.peer) ? 0 : 1)
      if (entry.held + n > this.maxBytes / holders) return false
      this.preempt(meter.peer, this.used + n - this.maxBytes)
      if (this.used + n > this.maxBytes) return false
    }
    this.used += n
    entry.held += n
    meter.held += n
    entry.meters.add(meter)
    this.peers.set(meter.peer, entry)
    return true
  }

  /** Frees at least `need` bytes by aborting the largest streams of the peers holding the most (never `peer`'s). */
  private preempt (peer: string, need: number): void {
    const victims = [...this.peers.entries()].filter(([p]) => p !== peer).sort((a, b) => b[1].held - a[1].held)
    let freed = 0
    for (const [, entry] of victims) {
      for (const m of [...entry.meters].sort((a, b) => b.held - a.held)) {
        if (freed >= need) return
        freed += m.held
        m.drop(new QueueFullError('preempted: this peer holds more than its share of the bytes in flight here'))
      }
    }
  }

  private release (meter: Meter): void {
    const entry = this.peers.get(meter.peer)
    if (entry === undefined) return
    this.used -= meter.held
    entry.held -= meter.held
    meter.held = 0
    entry.meters.delete(meter)
    if (entry.meters.size === 0) this.peers.delete(meter.peer)
  }
}
