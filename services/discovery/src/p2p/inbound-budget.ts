/**
 * The node's budget of bytes received from peers and not yet done with: one number for all
 * peers, of which one peer may hold half. PeerIds are free, so per-peer limits alone do not
 * bound memory; this does. Every byte a job stream receives is charged as it arrives and given
 * back when the stream ends; a stream whose bytes do not fit is aborted, never buffered.
 */
import type { Stream } from '@libp2p/interface'
import { QueueFullError } from '../../../core/src/errors.ts'

export interface InboundBudgetInit {
  /** Bytes in flight from all peers together. */
  maxBytes: number
  /** Bytes one peer may hold. Default: half of maxBytes. */
  maxPeerBytes?: number
}

export class InboundBudget {
  readonly maxBytes: number
  readonly maxPeerBytes: number
  private used = 0
  private readonly peers = new Map<string, number>()

  constructor (init: InboundBudgetInit) {
    this.maxBytes = init.maxBytes
    this.maxPeerBytes = init.maxPeerBytes ?? Math.floor(init.maxBytes / 2)
  }

  /** Bytes held now, all peers together. */
  get inFlight (): number { return this.used }
  /** Peers holding bytes now. */
  get holders (): number { return this.peers.size }

  /** Takes `n` bytes for `peer`; false (nothing taken) when that would pass a limit. */
  take (peer: string, n: number): boolean {
    const held = this.peers.get(peer) ?? 0
    if (this.used + n > this.maxBytes || held + n > this.maxPeerBytes) return false
    this.used += n
    this.peers.set(peer, held + n)
    return true
  }

  give (peer: string, n: number): void {
    if (n <= 0) return
    const held = (this.peers.get(peer) ?? 0) - n
    this.used -= n
    if (held <= 0) this.peers.delete(peer)
    else this.peers.set(peer, held)
  }

  /**
   * Charges every byte `stream` receives to `peer`, aborting the stream when they do not fit.
   * Call the returned function when the stream is done with: it gives everything back.
   */
  meter (stream: Pick<Stream, 'addEventListener' | 'removeEventListener' | 'abort'>, peer: string): () => void {
    let held = 0
    let done = false
    const onMessage = (evt: { data: { byteLength: number }, stopImmediatePropagation: () => void }): void => {
      if (done) return
      const n = evt.data.byteLength
      if (this.take(peer, n)) {
        held += n
        return
      }
      // Registered before the reader: the bytes that do not fit never reach its buffer.
      evt.stopImmediatePropagation()
      done = true
      stream.abort(new QueueFullError(`peers have more than ${this.maxBytes} bytes in flight here (one peer: ${this.maxPeerBytes})`))
    }
    stream.addEventListener('message', onMessage as never)
    return () => {
      done = true
      stream.removeEventListener('message', onMessage as never)
      this.give(peer, held)
      held = 0
    }
  }
}
