/**
 * `/phase/time/1.0.0`: a peer answers a stream with its wall clock (milliseconds since the Unix
 * epoch, one length-prefixed float64, big-endian) and closes it. The asker halves the round trip
 * (NTP's estimate): skew = peer's time − (sent + received) / 2. `phase doctor` uses it, because
 * a node whose clock is off signs receipts with wrong times and sees peers' capability records
 * (which expire) as not yet valid or already expired.
 *
 * Costs the answering node nothing it does not bound: it reads nothing, writes 9 bytes, and
 * libp2p's per-connection stream cap (`TIME_MAX_INBOUND_STREAMS`) bounds how many answers one
 * peer has open at once.
 */
import type { Stream, PeerId } from '@libp2p/interface'
import { messageStream, finish } from './job-protocol.ts'

export const TIME_PROTOCOL = '/phase/time/1.0.0'
/** Time answers one connection may have open at once. */
export const TIME_MAX_INBOUND_STREAMS = 2
/** How long an answer may take to be taken by the asker before the stream is reset. */
export const TIME_GRACE_MS = 2_000
const TIME_BYTES = 8

/** Serves this node's wall clock on a stream. */
export async function serveTime (stream: Stream, now: () => number = Date.now): Promise<void> {
  const bytes = new Uint8Array(TIME_BYTES)
  new DataView(bytes.buffer).setFloat64(0, now(), false)
  try {
    await messageStream(stream, TIME_BYTES).write(bytes, { signal: AbortSignal.timeout(TIME_GRACE_MS) })
    await finish(stream, TIME_GRACE_MS)
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error('time stream failed'))
  }
}

export interface ClockSample {
  peer: string
  /** Peer's clock minus this node's, milliseconds (positive: the peer is ahead). */
  skewMs: number
  /** Round trip of the question, milliseconds: the estimate is good to about half of it. */
  rttMs: number
}

/** Asks one peer for its time on a stream opened by `open`. */
export async function askTime (open: (signal: AbortSignal) => Promise<Stream>, peer: PeerId, options: { signal: AbortSignal, now?: () => number }): Promise<ClockSample> {
  const now = options.now ?? Date.now
  const stream = await open(options.signal)
  try {
    const sent = now()
    const answer = await messageStream(stream, TIME_BYTES).read({ signal: options.signal })
    const received = now()
    const bytes = answer.subarray()
    if (bytes.byteLength !== TIME_BYTES) throw new Error(`a time answer is ${TIME_BYTES} bytes, not ${bytes.byteLength}`)
    const theirs = new DataView(bytes.buffer, bytes.byteOffset, TIME_BYTES).getFloat64(0, false)
    if (!Number.isFinite(theirs)) throw new Error('the time answer is not a number')
    return { peer: peer.toString(), skewMs: theirs - (sent + received) / 2, rttMs: received - sent }
  } finally {
    await stream.close().catch(() => { stream.abort(new Error('time stream not closed')) })
  }
}

/** Median of the samples' skews, and the largest by size; undefined when there is none. */
export function summarizeSkew (samples: readonly ClockSample[]): { medianMs: number, maxAbsMs: number } | undefined {
  if (samples.length === 0) return undefined
  const skews = samples.map((s) => s.skewMs).sort((a, b) => a - b)
  const mid = Math.floor(skews.length / 2)
  const medianMs = skews.length % 2 === 1 ? skews[mid]! : (skews[mid - 1]! + skews[mid]!) / 2
  return { medianMs, maxAbsMs: Math.max(...skews.map(Math.abs)) }
}
