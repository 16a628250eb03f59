/**
 * `/phase/job/1.0.0`: one job per stream, length-prefixed JSON messages, every message capped.
 *   client → offer {manifest}            server → accept {need_module} | reject {code, message}
 *   client → module {module_base64}      (only when the server lacks the module)
 *                                        server → result {...receipt_json} | error {code, message}
 * The server runs the job exactly as a local one (same JobRunner, same caps, same signer).
 * `/phase/capability/1.0.0` answers one request with the node's signed capability record.
 */
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { parseManifest, type Manifest } from '@phase-network/protocol'
import { CancelledError, DeadlineExceededError, PhaseError, UnavailableError, ERROR_TABLE, isPhaseError, toPublicError, type ErrorCode } from '@phase-network/protocol'
import { EventLog, sanitize, type Logger } from '@phase-network/process'
import type { JobResult, JobRunner } from '../jobs.ts'
import type { CapabilityRecord } from '@phase-network/protocol'
import { canonicalBytes } from '@phase-network/protocol'
import type { PeerLimiter } from './peer-limits.ts'
import type { InboundBudget } from './inbound-budget.ts'
import { jobStreamHandler2, type JobServer2Init } from './job-protocol-2.ts'
import { IDLE_STREAMS_PER_PEER } from './job-streams.ts'
import { deadline, type Deadline } from '../deadline.ts'

export const JOB_PROTOCOL = '/phase/job/1.0.0'
export const CAPABILITY_PROTOCOL = '/phase/capability/1.0.0'
/** Control messages (offer, accept, capability) are small; only module and result carry bulk. */
export const MAX_CONTROL_BYTES = 1024 * 1024
/** Time a peer gets to answer an offer or a capability request (this node as the client). */
export const DEFAULT_ANSWER_TIMEOUT_MS = 10_000
/** Time a peer gets to close a capability stream once the record is sent. */
export const CAPABILITY_GRACE_MS = 5000
/** Time a peer gets to close a job stream after a refusal or its last job: short, nothing more is owed, ms. */
export const REFUSAL_GRACE_MS = 1000
/** Longest error name of a stream failure quoted in an error message. */
const MAX_QUOTED_NAME = 40
/** Longest text of a peer's refusal quoted in an error message. */
const MAX_QUOTED_REFUSAL = 200
const MS_PER_S = 1000

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export type Lp = ReturnType<typeof lpStream>

/** Length prefix of a message: a varint of at most 10 bytes. */
const PREFIX_BYTES = 10

/**
 * Thrown by the length decoder for a prefix that is still unfinished at the longest length a
 * message under the cap needs (named like libp2p's own error for a prefix that is too long).
 */
class PrefixTooLongError extends Error {
  override name = 'InvalidDataLengthLengthError'
}

/** What the length decoder throws for a prefix that needs another byte (see lengthDecoder). */
export const UNFINISHED_PREFIX = new RangeError('unfinished length prefix')

/** Bytes of the varint of `n` (7 bits a byte). */
export const varintBytes = (n: number): number => Math.max(1, Math.ceil(Math.log2(n + 1) / 7))

/**
 * The length prefix's decoder (an unsigned varint), which gives up once the prefix is longer
 * than any length under `maxBytes` needs. libp2p's reader checks the prefix's length only after
 * a varint decodes, and its decoder decodes at most 8 bytes: bytes with the high bit set would
 * otherwise be read one by one, and kept, for as long as the peer sends them.
 */
export function lengthDecoder (maxBytes: number): (data: { byteLength: number, get: (index: number) => number }) => number {
  const longest = varintBytes(maxBytes)
  return (data) => {
    let value = 0
    for (let i = 0; i < data.byteLength && i < longest; i++) {
      const byte = data.get(i)
      value += (byte & 0x7f) * 2 ** (7 * i)
      if (byte < 0x80) return value
    }
    // A RangeError is an unfinished varint: the reader asks for another byte. One shared
    // instance: every message of 128 bytes or more has an unfinished first byte, and a new
    // Error per message would capture a stack trace each time.
    if (data.byteLength < longest) throw UNFINISHED_PREFIX
    throw new PrefixTooLongError(`length prefix longer than ${longest} bytes`)
  }
}

/**
 * A length-prefixed reader/writer whose caps are explicit: a message longer than `maxBytes` is
 * refused from its length prefix, before any of it is buffered, and the reader buffers up to the
 * same cap (the libp2p reader's own default, 4 MiB, would break any larger job).
 */
export function messageStream (stream: Stream, maxBytes: number): Lp {
  return lpStream(stream, { maxDataLength: maxBytes, maxBufferSize: maxBytes + PREFIX_BYTES, lengthDecoder: lengthDecoder(maxBytes) })
}

/**
 * Which end reads: the server reads a peer's request (what the peer got wrong is its bad input),
 * the client reads a peer's answer (a peer that breaks off is a peer that is not available).
 */
export type Side = 'server' | 'client'

/**
 * What a failed read means, as a typed error: everything a peer can do to a read (bad or
 * oversized length prefix, a message cut short, a reset, silence) is the peer's doing, never
 * `internal`. `deadline` is the read's own timer, `signal` the caller's.
 */
function readError (err: unknown, what: string, side: Side, timers: { signal?: AbortSignal, deadline?: Deadline, timeoutMs?: number } = {}): PhaseError {
  if (err instanceof PhaseError) return err
  const name = (err as Error)?.name
  // The length prefix announced more than the cap: refused before any of it is buffered.
  if (name === 'InvalidDataLengthError') return new PhaseError('module_too_large', `${what} is larger than this node accepts`)
  if (name === 'InvalidDataLengthLengthError') return new PhaseError('module_too_large', `${what} has a length prefix longer than any size this node accepts`)
  if (name === 'InvalidMessageLengthError') return new PhaseError('invalid_json', `${what} has an invalid length prefix`)
  if (name === 'StreamBufferError') return new PhaseError('module_too_large', `the peer sent more than this node buffers while reading ${what}`)
  if (timers.signal?.aborted === true) {
    return timers.signal.reason?.name === 'TimeoutError' ? new DeadlineExceededError(`no ${what} from the peer before the deadline`) : new CancelledError(`cancelled while waiting for ${what}`)
  }
  if (timers.deadline?.expired === true) return new DeadlineExceededError(`the peer sent no ${what} within ${timers.timeoutMs} ms`)
  const cause = { cause: err }
  if (name === 'UnexpectedEOFError') {
    return side === 'server'
      ? new PhaseError('invalid_json', `the stream ended before a complete ${what}`, cause)
      : new UnavailableError(`the peer closed the stream before a complete ${what}`, cause)
  }
  // Reset, aborted or closed under us: the peer (or the connection to it) is gone.
  return new UnavailableError(`the stream ended while reading ${what} (${sanitize(String(name), MAX_QUOTED_NAME)})`, cause)
}

/** Reads one message's bytes; `timeoutMs` bounds the wait (a silent peer is not waited for). */
export async function readMessage (lp: Lp, what: string, side: Side, signal?: AbortSignal, timeoutMs?: number): Promise<Uint8Array> {
  const wait = deadline(signal, timeoutMs)
  let bytes
  try {
    bytes = await lp.read({ signal: wait.signal })
  } catch (err) {
    throw readError(err, what, side, { signal, deadline: wait, timeoutMs })
  } finally {
    wait.clear()
  }
  return bytes.subarray()
}

/** Reads one JSON object (see readMessage). */
export async function readJson (lp: Lp, what: string, side: Side, signal?: AbortSignal, timeoutMs?: number): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const bytes = await readMessage(lp, what, side, signal, timeoutMs)
  let doc: unknown
  try { doc = JSON.parse(dec.decode(bytes)) } catch { throw new PhaseError('invalid_json', `${what} is not valid JSON`) }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new PhaseError('invalid_json', `${what} must be a JSON object`)
  return doc as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * Slowest rate at which a peer must take what this node sends it: a write waits for the peer to
 * read (flow control), and a peer that stops reading must not hold a stream, or a job's slot,
 * for ever. 64 KiB/s is a poor mobile link.
 */
const MIN_PEER_READ_BYTES_PER_S = 64 * 1024

/**
 * Writes one JSON message. `timeoutMs` (plus the time the message takes at the slowest rate a
 * peer may read) bounds the wait for the peer to take it; every failure is typed.
 */
export async function writeJson (lp: Lp, doc: unknown, what: string, signal?: AbortSignal, timeoutMs?: number): Promise<void> {
  await writeMessage(lp, enc.encode(JSON.stringify(doc)), what, signal, timeoutMs)
}

/** Writes one message of raw bytes (see writeJson). */
export async function writeMessage (lp: Lp, bytes: Uint8Array, what: string, signal?: AbortSignal, timeoutMs?: number): Promise<void> {
  const ms = timeoutMs === undefined ? undefined : timeoutMs + Math.ceil(bytes.byteLength / MIN_PEER_READ_BYTES_PER_S * MS_PER_S)
  const wait = deadline(signal, ms)
  try {
    await lp.write(bytes, { signal: wait.signal })
  } catch (err) {
    if (err instanceof PhaseError) throw err
    if (signal?.aborted === true) throw signal.reason?.name === 'TimeoutError' ? new DeadlineExceededError(`the peer did not take ${what} before the deadline`) : new CancelledError(`cancelled while sending ${what}`)
    if (wait.expired) throw new DeadlineExceededError(`the peer did not take ${what} within ${ms} ms`)
    throw new UnavailableError(`the stream ended while sending ${what} (${sanitize(String((err as Error)?.name), MAX_QUOTED_NAME)})`, { cause: err })
  } finally {
    wait.clear()
  }
}

/**
 * Ends a stream we are done with: closes our side, then gives the peer `graceMs` to close its
 * own; a peer that keeps it open (and could keep sending into our reader) is reset.
 */
export async function finish (stream: Stream, graceMs: number, reason?: unknown): Promise<void> {
  try {
    await stream.close({ signal: AbortSignal.timeout(graceMs) })
    if (stream.status === 'open' || stream.status === 'closing') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { stream.removeEventListener('close', onClose); reject(new Error('peer kept the stream open')) }, graceMs)
        const onClose = (): void => { clearTimeout(timer); resolve() }
        stream.addEventListener('close', onClose, { once: true })
      })
    }
  } catch (err) {
    stream.abort(reason instanceof Error ? reason : err as Error)
  }
}

export interface JobServerComponents {
  jobs: Pick<JobRunner, 'run' | 'running'>
  modules: { has: (hash: string) => boolean }
  logger: Logger
  /** Called once per stream with how it ended. */
  count?: (outcome: 'in' | 'refused') => void
}

export interface JobServerInit {
  /** Largest message a peer may send (the module, base64 in JSON, is the largest). */
  maxMessageBytes: number
  /** Remote jobs accepted at once; more are rejected with queue_full. */
  maxInFlight: number
  /** Per-peer concurrency and rate. */
  limiter: PeerLimiter
  /** Bytes in flight from all peers. */
  budget: InboundBudget
  /** Longest wait for each message from the peer (and for it to close the stream), ms. */
  readTimeoutMs: number
}

/** The server's view of remote jobs, for metrics and tests. */
export interface JobServer {
  (stream: Stream, peer: string): Promise<void>
  /** Remote jobs holding a slot now (from the accepted offer to the end of the stream). */
  readonly inFlight: number
  /** Streams being served now. */
  readonly streams: number
  /** Serves `/phase/job/2.0.0` streams (job-protocol-2.ts), with the same slots. */
  readonly v2: (stream: Stream, peer: string) => Promise<void>
  /** Writes what the refusals' log holds back (at stop). */
  readonly close: () => void
}

/** Serves `/phase/job/1.0.0` streams (and 2.0.0 ones through `.v2`). */
export function jobStreamHandler (c: JobServerComponents, init: JobServerInit & Partial<Pick<JobServer2Init, 'maxStreamsPerPeer' | 'maxInputBytes'>>): JobServer {
  let inFlight = 0
  let streams = 0
  // Refusals are the peer's doing: at most a line per period, counted (EventLog); both protocols share it.
  const refusals = new EventLog(c.logger, 'info', 'remote job refused')
  const serve = async (stream: Stream, peer: string): Promise<void> => {
    streams++
    const log = c.logger.child({ peer })
    // Every byte the peer sends is charged before it is buffered; given back when the stream ends.
    const giveBack = init.budget.meter(stream, peer)
    const lp = messageStream(stream, init.maxMessageBytes)
    let release = (): void => {}
    let slot = false
    try {
      // Refuse a flooding peer before reading (and buffering) anything it sends.
      release = init.limiter.acquire(peer)
      const offer = await readJson(lp, 'offer', 'server', undefined, init.readTimeoutMs)
      if (offer.type !== 'offer' || offer.version !== 1) throw new PhaseError('invalid_json', 'expected an offer of version 1')
      const manifest = parseManifest(offer.manifest)
      // Checked and counted with no await between: concurrent offers cannot all pass the cap.
      if (inFlight >= init.maxInFlight) throw new PhaseError('queue_full', 'this node is at capacity for remote jobs')
      inFlight++
      slot = true
      const needModule = !c.modules.has(manifest.module_hash)
      await writeJson(lp, { type: 'accept', need_module: needModule }, 'the accept', undefined, init.readTimeoutMs)
      let module: Uint8Array | undefined
      if (needModule) {
        const msg = await readJson(lp, 'module', 'server', undefined, init.readTimeoutMs)
        if (msg.type !== 'module' || typeof msg.module_base64 !== 'string') throw new PhaseError('invalid_json', 'expected the module')
        module = Buffer.from(msg.module_base64, 'base64')
      }
      log.debug({ event: 'job_in', moduleHash: manifest.module_hash }, 'remote job in')
      const r = await c.jobs.run({ manifest, module }, { origin: 'remote' })
      await writeJson(lp, resultMessage(r), 'the result', undefined, init.readTimeoutMs)
      c.count?.('in')
      // The job is done: its slot is free while the peer closes the stream.
      inFlight--
      slot = false
      await finish(stream, init.readTimeoutMs)
    } catch (err) {
      const pub = toPublicError(err)
      // Whatever a peer sends or does to the stream ends as a typed refusal (its bad input: counted,
      // a line per period at info); only this node's own failures are errors in the log.
      if (!isPhaseError(err)) log.error({ err }, 'remote job failed')
      refusals.note({ event: 'rejected', peer, code: pub.code, reason: pub.message })
      c.count?.('refused')
      // Answered while our side can still carry it (the peer may have closed only its own).
      if (stream.status === 'open' && stream.writeStatus === 'writable') await writeJson(lp, { type: pub.code === 'queue_full' ? 'reject' : 'error', code: pub.code, message: pub.message }, 'the refusal', undefined, init.readTimeoutMs).catch(() => {})
      await finish(stream, Math.min(init.readTimeoutMs, REFUSAL_GRACE_MS), err)
    } finally {
      if (slot) inFlight--
      streams--
      release()
      giveBack()
    }
  }
  const v2 = jobStreamHandler2(c, { ...init, refusals, maxStreamsPerPeer: init.maxStreamsPerPeer ?? init.limiter.concurrency + IDLE_STREAMS_PER_PEER }, {
    take: () => { if (inFlight >= init.maxInFlight) return false; inFlight++; return true },
    give: () => { inFlight-- },
    enter: () => { streams++ },
    leave: () => { streams-- }
  })
  return Object.defineProperties(serve, {
    inFlight: { get: () => inFlight },
    streams: { get: () => streams },
    v2: { value: v2 },
    close: { value: () => { refusals.close() } }
  }) as JobServer
}

/** Serves `/phase/capability/1.0.0`: the current signed record, then close. */
export function capabilityStreamHandler (record: () => Promise<CapabilityRecord>, budget?: InboundBudget, logger?: Logger): ((stream: Stream, peer: string) => Promise<void>) & { close: () => void } {
  // This node's own failure, but each peer's ask would log it: a line per period.
  const unavailable = logger === undefined ? undefined : new EventLog(logger, 'error', 'capability record not available')
  const serve = async (stream: Stream, peer: string): Promise<void> => {
    // Nothing is read here, but whatever the peer sends counts until the stream ends.
    const giveBack = budget?.meter(stream, peer)
    try {
      let bytes
      try {
        // Its canonical bytes, exactly: the record is verified on the bytes received.
        bytes = canonicalBytes(await record())
      } catch (err) {
        // This node's own failure (its signer), not the peer's; but each peer's ask would log it.
        unavailable?.note({ peer, err: (err as Error).message })
        stream.abort(err instanceof Error ? err : new Error('capability record not available'))
        return
      }
      try {
        // A peer that does not take the record (flow control) gets the grace time, then a reset.
        await messageStream(stream, MAX_CONTROL_BYTES).write(bytes, { signal: AbortSignal.timeout(CAPABILITY_GRACE_MS) })
        await finish(stream, CAPABILITY_GRACE_MS)
      } catch (err) {
        // Whatever the peer did to the stream (reset, stall) is its business: debug, not error.
        logger?.debug({ peer, err: (err as Error)?.message }, 'capability stream ended early')
        stream.abort(err instanceof Error ? err : new Error('capability stream failed'))
      }
    } finally {
      giveBack?.()
    }
  }
  return Object.assign(serve, { close: () => { unavailable?.close() } })
}

export interface RemoteResult {
  jobId: string
  status: string
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  receiptJson: Uint8Array
  /** Files the job wrote under /out (2.0.0; unverified until checked against the receipt's outputs). */
  outputs?: OutputFile[]
}

/** A file a job wrote, as a peer sent it. */
export interface OutputFile {
  path: string
  data: Uint8Array
}

/** Client side of `/phase/job/1.0.0` on an open stream. */
export async function offerJob (stream: Stream, manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, maxMessageBytes: number, readTimeoutMs?: number }): Promise<RemoteResult> {
  const lp = messageStream(stream, options.maxMessageBytes)
  const signal = options.signal
  let r
  try {
    await writeJson(lp, { type: 'offer', version: 1, manifest }, 'the offer', signal)
    // A peer answers an offer at once; the result may take the job's whole time (the signal).
    const answer = await readJson(lp, 'answer', 'client', signal, options.readTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS)
    if (answer.type !== 'accept') throw remoteError(answer)
    if (answer.need_module === true) await writeJson(lp, { type: 'module', module_base64: Buffer.from(await loadModule()).toString('base64') }, 'the module', signal)
    r = await readJson(lp, 'result', 'client', signal)
  } catch (err) {
    // Nothing more is read from this stream: reset it rather than leave it to the peer.
    stream.abort(err instanceof Error ? err : new Error('job stream failed'))
    throw err
  }
  await stream.close({ signal: AbortSignal.timeout(CAPABILITY_GRACE_MS) }).catch(() => { stream.abort(new Error('job stream did not close')) })
  return resultOf(r)
}

/** The `result` message of a job this node ran (both protocol versions; 2.0.0 adds the output files). */
export function resultMessage (r: Pick<JobResult, 'jobId' | 'status' | 'exitCode' | 'stdout' | 'stderr' | 'receiptJson'>): Record<string, unknown> {
  return {
    type: 'result',
    job_id: r.jobId,
    status: r.status,
    exit_code: r.exitCode,
    stdout_base64: Buffer.from(r.stdout).toString('base64'),
    stderr_base64: Buffer.from(r.stderr).toString('base64'),
    receipt_json: Buffer.from(r.receiptJson).toString('utf8')
  }
}

/** A peer's result message as a RemoteResult (unverified: the caller checks it against the receipt). */
export function resultOf (r: Record<string, any>): RemoteResult { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (r.type !== 'result') throw remoteError(r)
  if (typeof r.receipt_json !== 'string' || typeof r.stdout_base64 !== 'string' || typeof r.stderr_base64 !== 'string') throw new PhaseError('verification_failed', 'peer sent a malformed result')
  const result: RemoteResult = {
    jobId: String(r.job_id),
    status: String(r.status),
    exitCode: Number(r.exit_code),
    stdout: Buffer.from(r.stdout_base64, 'base64'),
    stderr: Buffer.from(r.stderr_base64, 'base64'),
    receiptJson: enc.encode(r.receipt_json)
  }
  if (r.outputs !== undefined) {
    if (!Array.isArray(r.outputs) || !r.outputs.every((f: any) => typeof f?.path === 'string' && typeof f?.data_base64 === 'string')) throw new PhaseError('verification_failed', 'peer sent malformed output files') // eslint-disable-line @typescript-eslint/no-explicit-any
    result.outputs = r.outputs.map((f: { path: string, data_base64: string }) => ({ path: f.path, data: Buffer.from(f.data_base64, 'base64') }))
  }
  return result
}

/** Reads a peer's capability record as the exact bytes received (unverified: the caller verifies them). */
export async function fetchCapability (stream: Stream, signal?: AbortSignal, timeoutMs = DEFAULT_ANSWER_TIMEOUT_MS): Promise<Uint8Array> {
  const lp = messageStream(stream, MAX_CONTROL_BYTES)
  let record
  try {
    record = await readMessage(lp, 'capability record', 'client', signal, timeoutMs)
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error('capability stream failed'))
    throw err
  }
  await stream.close({ signal: AbortSignal.timeout(CAPABILITY_GRACE_MS) }).catch(() => { stream.abort(new Error('capability stream did not close')) })
  return record
}

/**
 * A peer's refusal as a typed error: its code when it is one of ours, else (no code, an unknown
 * one, or the peer's own `internal`) `unavailable`: that peer could not run the job, which says
 * nothing of this node.
 */
export function remoteError (msg: Record<string, unknown>): PhaseError {
  const code = typeof msg.code === 'string' && msg.code in ERROR_TABLE && msg.code !== 'internal' ? msg.code as ErrorCode : 'unavailable'
  // The peer's words reach logs and terminals: control characters escaped, length capped.
  return new PhaseError(code, `peer refused: ${sanitize(String(msg.message ?? msg.type ?? 'no reason').slice(0, MAX_QUOTED_REFUSAL))}`)
}
