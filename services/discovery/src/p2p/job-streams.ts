/**
 * The client's job streams: a bounded pool of idle `/phase/job/2.0.0` streams per peer, so a
 * job to a peer we talked to recently costs one round trip and no stream negotiation. A peer
 * that only speaks `/phase/job/1.0.0` (an older node) gets one stream per job, as before.
 *
 * Bounds: at most `maxIdlePerPeer` idle streams per peer and `maxIdle` in all (the oldest closed
 * first); a stream idle for `idleMs` is closed before its next use (the server ends idle streams
 * at its read deadline, 10 s by default: ours is shorter, so we rarely meet a stream the peer
 * is closing); a stream is pooled only after a clean answer, never after an error.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { Manifest } from '@phase-network/protocol'
import { UnavailableError } from '@phase-network/protocol'
import { JOB_PROTOCOL, offerJob, type RemoteResult } from './job-protocol.ts'
import { JOB_PROTOCOL_2, jobChannel, runJob2, type JobChannel, type JobState } from './job-protocol-2.ts'

export interface JobStreamsInit {
  /** Largest message read from a peer (its result). */
  maxMessageBytes: number
  /** Longest wait for a 1.0.0 peer's accept, ms. */
  readTimeoutMs?: number
  /** Idle streams kept per peer. Default: IDLE_STREAMS_PER_PEER (4). */
  maxIdlePerPeer?: number
  /** Idle streams kept in all. Default: 256. */
  maxIdle?: number
  /** An idle stream older than this is closed instead of reused, ms. Default: 5000. */
  idleMs?: number
}

interface Idle { ch: JobChannel, at: number }

/** Opens a stream to a peer, negotiating one of `protocols` (the first the peer speaks). */
export type OpenStream = (peer: PeerId, protocols: string[], signal: AbortSignal) => Promise<Stream>

/** Time a peer gets to close its side of a stream we closed, ms. */
const CLOSE_GRACE_MS = 5000
/** Idle streams kept in all peers together by default. */
export const DEFAULT_MAX_IDLE_STREAMS = 256
/** An idle stream older than this is closed instead of reused by default, ms (half the server's default read deadline). */
export const DEFAULT_IDLE_MS = 5000
/** Longest wait for a 1.0.0 peer's accept by default, ms. */
export const DEFAULT_ACCEPT_TIMEOUT_MS = 10_000
/**
 * Idle streams a client keeps per peer (the default of maxIdlePerPeer). A server lets a peer hold
 * its job concurrency plus this many job streams, so a client at full concurrency that also
 * keeps its idle streams is refused per job (the stream goes on), not per stream.
 */
export const IDLE_STREAMS_PER_PEER = 4

export class JobStreams {
  private readonly idle = new Map<string, Idle[]>()
  private idleCount = 0
  /** Channels whose idle watch is installed (once per stream: adding and removing a listener per job cost ~0.05 ms). */
  private readonly watched = new WeakSet<JobChannel>()
  /** Channels in the pool now, with their peer (what the idle watch checks). */
  private readonly pooled = new Map<JobChannel, string>()
  private readonly init: Required<JobStreamsInit>
  private readonly open: OpenStream

  constructor (open: OpenStream, init: JobStreamsInit) {
    this.open = open
    this.init = { readTimeoutMs: DEFAULT_ACCEPT_TIMEOUT_MS, maxIdlePerPeer: IDLE_STREAMS_PER_PEER, maxIdle: DEFAULT_MAX_IDLE_STREAMS, idleMs: DEFAULT_IDLE_MS, ...init }
  }

  /** Idle streams held now (all peers). */
  get size (): number { return this.idleCount }

  /**
   * Runs `manifest` on `peer`: on an idle stream when one is fresh, else on a new one. A job that
   * fails on a reused stream before the peer answered anything (the peer closed it while idle)
   * is sent once more on a new stream.
   */
  async run (peer: PeerId, manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: { signal: AbortSignal, loadInput?: (hash: string) => Promise<Uint8Array> }): Promise<RemoteResult> {
    const key = peer.toString()
    const reused = this.take(key)
    if (reused !== undefined) {
      const state: JobState = { answered: false, reusable: false }
      try {
        return await this.runOn(key, reused, manifest, loadModule, options, state)
      } catch (err) {
        if (state.answered || options.signal.aborted) throw err
      }
    }
    const stream = await this.open(peer, [JOB_PROTOCOL_2, JOB_PROTOCOL], options.signal)
    // An older node: one stream per job (offerJob closes it); 1.0.0 carries no files.
    if (stream.protocol === JOB_PROTOCOL) {
      if ((manifest.inputs?.length ?? 0) > 0) {
        stream.abort(new Error('1.0.0 carries no input files'))
        throw new UnavailableError(`the peer speaks only ${JOB_PROTOCOL}, which carries no input files`)
      }
      return await offerJob(stream, manifest, loadModule, { signal: options.signal, maxMessageBytes: this.init.maxMessageBytes, readTimeoutMs: this.init.readTimeoutMs })
    }
    return await this.runOn(key, jobChannel(stream, this.init.maxMessageBytes), manifest, loadModule, options, { answered: false, reusable: false })
  }

  private async runOn (key: string, ch: JobChannel, manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: { signal: AbortSignal, loadInput?: (hash: string) => Promise<Uint8Array> }, state: JobState): Promise<RemoteResult> {
    try {
      return await runJob2(ch, manifest, loadModule, { signal: options.signal, loadInput: options.loadInput, state })
    } finally {
      if (state.reusable) this.give(key, ch)
    }
  }

  /** A fresh idle stream of `peer` (stale or closed ones are closed and dropped on the way). */
  private take (key: string): JobChannel | undefined {
    const list = this.idle.get(key)
    if (list === undefined) return undefined
    const now = Date.now()
    let found: JobChannel | undefined
    while (found === undefined && list.length > 0) {
      const { ch, at } = list.pop()!
      this.pooled.delete(ch)
      this.idleCount--
      if (now - at <= this.init.idleMs && usable(ch.stream)) found = ch
      else close(ch.stream)
    }
    if (list.length === 0) this.idle.delete(key)
    return found
  }

  private give (key: string, ch: JobChannel): void {
    if (!usable(ch.stream)) { close(ch.stream); return }
    const list = this.idle.get(key) ?? []
    if (list.length >= this.init.maxIdlePerPeer) { close(ch.stream); return }
    this.watch(ch)
    this.pooled.set(ch, key)
    list.push({ ch, at: Date.now() })
    this.idle.set(key, list)
    this.idleCount++
    if (this.idleCount > this.init.maxIdle) this.evictOldest()
  }

  /**
   * A peer says nothing on an idle stream: bytes that arrive there answer no job, and the reader
   * would keep them (up to the result cap, on every pooled stream). The stream is aborted and
   * leaves the pool at the first of them.
   */
  private watch (ch: JobChannel): void {
    if (this.watched.has(ch)) return
    this.watched.add(ch)
    ch.stream.addEventListener('message', () => {
      const key = this.pooled.get(ch)
      // Bytes of a job under way are its answer.
      if (key === undefined) return
      this.pooled.delete(ch)
      const list = this.idle.get(key)
      const i = list?.findIndex((e) => e.ch === ch) ?? -1
      if (i >= 0) {
        list!.splice(i, 1)
        this.idleCount--
        if (list!.length === 0) this.idle.delete(key)
      }
      ch.stream.abort(new Error('the peer sent bytes on an idle job stream'))
    })
  }

  private evictOldest (): void {
    let oldest: { key: string, index: number, at: number } | undefined
    for (const [key, list] of this.idle) {
      if (list.length > 0 && (oldest === undefined || list[0]!.at < oldest.at)) oldest = { key, index: 0, at: list[0]!.at }
    }
    if (oldest === undefined) return
    const list = this.idle.get(oldest.key)!
    const { ch } = list.shift()!
    this.pooled.delete(ch)
    close(ch.stream)
    this.idleCount--
    if (list.length === 0) this.idle.delete(oldest.key)
  }

  /** Closes every idle stream of `peer` (it disconnected), or of every peer. */
  drop (peer?: string): void {
    for (const [key, list] of this.idle) {
      if (peer !== undefined && key !== peer) continue
      for (const { ch } of list) { this.pooled.delete(ch); close(ch.stream) }
      this.idleCount -= list.length
      this.idle.delete(key)
    }
  }
}

/** Open both ways: the peer has not closed its side, nor we ours. */
function usable (stream: Stream): boolean {
  return stream.status === 'open' && stream.writeStatus === 'writable' && stream.readStatus === 'readable' && stream.remoteWriteStatus === 'writable'
}

function close (stream: Stream): void {
  if (stream.status !== 'open') return
  void stream.close({ signal: AbortSignal.timeout(CLOSE_GRACE_MS) }).catch(() => { stream.abort(new Error('job stream did not close')) })
}
