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
import { parseManifest, type Manifest } from '../../../core/src/documents/manifest.ts'
import { DeadlineExceededError, PhaseError, ERROR_TABLE, toPublicError, type ErrorCode } from '../../../core/src/errors.ts'
import { sanitize, type Logger } from '../../../core/src/logger.ts'
import type { JobRunner } from '../jobs.ts'
import type { CapabilityRecord } from '../../../core/src/crypto/capability.ts'
import { canonicalBytes } from '../../../core/src/canonical.ts'
import type { PeerLimiter } from './peer-limits.ts'
import type { InboundBudget } from './inbound-budget.ts'

export const JOB_PROTOCOL = '/phase/job/1.0.0'
export const CAPABILITY_PROTOCOL = '/phase/capability/1.0.0'
/** Control messages (offer, accept, capability) are small; only module and result carry bulk. */
export const MAX_CONTROL_BYTES = 1024 * 1024
/** Time a peer gets to answer an offer or a capability request (this node as the client). */
const DEFAULT_ANSWER_TIMEOUT_MS = 10_000
/** Time a peer gets to close a capability stream once the record is sent. */
const CAPABILITY_GRACE_MS = 5000

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

type Lp = ReturnType<typeof lpStream>

/** Length prefix of a message: a varint of at most 10 bytes. */
const PREFIX_BYTES = 10

/**
 * A length-prefixed reader/writer whose caps are explicit: a message longer than `maxBytes` is
 * refused from its length prefix, before any of it is buffered, and the reader buffers up to the
 * same cap (the libp2p reader's own default, 4 MiB, would break any larger job).
 */
export function messageStream (stream: Stream, maxBytes: number): Lp {
  return lpStream(stream, { maxDataLength: maxBytes, maxBufferSize: maxBytes + PREFIX_BYTES })
}

/** Reads one message's bytes; `timeoutMs` bounds the wait (a silent peer is not waited for). */
async function readMessage (lp: Lp, what: string, signal?: AbortSignal, timeoutMs?: number): Promise<Uint8Array> {
  const deadline = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs)
  const signals = [signal, deadline].filter((s) => s !== undefined)
  let bytes
  try {
    bytes = await lp.read({ signal: signals.length === 0 ? undefined : AbortSignal.any(signals) })
  } catch (err) {
    // The length prefix announced more than the cap: refused before any of it is buffered.
    const name = (err as Error).name
    if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError') throw new PhaseError('module_too_large', `${what} is larger than this node accepts`)
    if (name === 'InvalidMessageLengthError') throw new PhaseError('invalid_json', `${what} has an invalid length prefix`)
    if (deadline?.aborted === true && signal?.aborted !== true) throw new DeadlineExceededError(`the peer sent no ${what} within ${timeoutMs} ms`)
    throw err
  }
  return bytes.subarray()
}

/** Reads one JSON object (see readMessage). */
async function readJson (lp: Lp, what: string, signal?: AbortSignal, timeoutMs?: number): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const bytes = await readMessage(lp, what, signal, timeoutMs)
  let doc: unknown
  try { doc = JSON.parse(dec.decode(bytes)) } catch { throw new PhaseError('invalid_json', `${what} is not valid JSON`) }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new PhaseError('invalid_json', `${what} must be a JSON object`)
  return doc as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
}

const writeJson = async (lp: Lp, doc: unknown, signal?: AbortSignal): Promise<void> => await lp.write(enc.encode(JSON.stringify(doc)), { signal })

/**
 * Ends a stream we are done with: closes our side, then gives the peer `graceMs` to close its
 * own; a peer that keeps it open (and could keep sending into our reader) is reset.
 */
async function finish (stream: Stream, graceMs: number, reason?: unknown): Promise<void> {
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
}

/** Serves `/phase/job/1.0.0` streams. */
export function jobStreamHandler (c: JobServerComponents, init: JobServerInit): JobServer {
  let inFlight = 0
  let streams = 0
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
      const offer = await readJson(lp, 'offer', undefined, init.readTimeoutMs)
      if (offer.type !== 'offer' || offer.version !== 1) throw new PhaseError('invalid_json', 'expected an offer of version 1')
      const manifest = parseManifest(offer.manifest)
      // Checked and counted with no await between: concurrent offers cannot all pass the cap.
      if (inFlight >= init.maxInFlight) throw new PhaseError('queue_full', 'this node is at capacity for remote jobs')
      inFlight++
      slot = true
      const needModule = !c.modules.has(manifest.module_hash)
      await writeJson(lp, { type: 'accept', need_module: needModule })
      let module: Uint8Array | undefined
      if (needModule) {
        const msg = await readJson(lp, 'module', undefined, init.readTimeoutMs)
        if (msg.type !== 'module' || typeof msg.module_base64 !== 'string') throw new PhaseError('invalid_json', 'expected the module')
        module = Buffer.from(msg.module_base64, 'base64')
      }
      log.info({ event: 'job_in', moduleHash: manifest.module_hash }, 'remote job in')
      const r = await c.jobs.run({ manifest, module }, { origin: 'remote' })
      await writeJson(lp, {
        type: 'result',
        job_id: r.jobId,
        status: r.status,
        exit_code: r.exitCode,
        stdout_base64: Buffer.from(r.stdout).toString('base64'),
        stderr_base64: Buffer.from(r.stderr).toString('base64'),
        receipt_json: Buffer.from(r.receiptJson).toString('utf8')
      })
      c.count?.('in')
      // The job is done: its slot is free while the peer closes the stream.
      inFlight--
      slot = false
      await finish(stream, init.readTimeoutMs)
    } catch (err) {
      const pub = toPublicError(err)
      if (pub !== err && (err as Error)?.name !== 'StreamResetError' && (err as Error)?.name !== 'StreamAbortedError') log.error({ err }, 'remote job failed')
      log.info({ event: 'rejected', code: pub.code }, 'remote job refused')
      c.count?.('refused')
      if (stream.status === 'open') await writeJson(lp, { type: pub.code === 'queue_full' ? 'reject' : 'error', code: pub.code, message: pub.message }, AbortSignal.timeout(init.readTimeoutMs)).catch(() => {})
      await finish(stream, Math.min(init.readTimeoutMs, 1000), err)
    } finally {
      if (slot) inFlight--
      streams--
      release()
      giveBack()
    }
  }
  return Object.defineProperties(serve, {
    inFlight: { get: () => inFlight },
    streams: { get: () => streams }
  }) as JobServer
}

/** Serves `/phase/capability/1.0.0`: the current signed record, then close. */
export function capabilityStreamHandler (record: () => Promise<CapabilityRecord>, budget?: InboundBudget): (stream: Stream, peer: string) => Promise<void> {
  return async (stream, peer) => {
    // Nothing is read here, but whatever the peer sends counts until the stream ends.
    const giveBack = budget?.meter(stream, peer)
    try {
      const lp = messageStream(stream, MAX_CONTROL_BYTES)
      // Its canonical bytes, exactly: the record is verified on the bytes received.
      await lp.write(canonicalBytes(await record()))
      await finish(stream, CAPABILITY_GRACE_MS)
    } finally {
      giveBack?.()
    }
  }
}

export interface RemoteResult {
  jobId: string
  status: string
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  receiptJson: Uint8Array
}

/** Client side of `/phase/job/1.0.0` on an open stream. */
export async function offerJob (stream: Stream, manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, maxMessageBytes: number, readTimeoutMs?: number }): Promise<RemoteResult> {
  const lp = messageStream(stream, options.maxMessageBytes)
  const signal = options.signal
  let r
  try {
    await writeJson(lp, { type: 'offer', version: 1, manifest }, signal)
    // A peer answers an offer at once; the result may take the job's whole time (the signal).
    const answer = await readJson(lp, 'answer', signal, options.readTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS)
    if (answer.type !== 'accept') throw remoteError(answer)
    if (answer.need_module === true) await writeJson(lp, { type: 'module', module_base64: Buffer.from(await loadModule()).toString('base64') }, signal)
    r = await readJson(lp, 'result', signal)
  } catch (err) {
    // Nothing more is read from this stream: reset it rather than leave it to the peer.
    stream.abort(err instanceof Error ? err : new Error('job stream failed'))
    throw err
  }
  await stream.close().catch(() => {})
  if (r.type !== 'result') throw remoteError(r)
  if (typeof r.receipt_json !== 'string' || typeof r.stdout_base64 !== 'string' || typeof r.stderr_base64 !== 'string') throw new PhaseError('verification_failed', 'peer sent a malformed result')
  return {
    jobId: String(r.job_id),
    status: String(r.status),
    exitCode: Number(r.exit_code),
    stdout: Buffer.from(r.stdout_base64, 'base64'),
    stderr: Buffer.from(r.stderr_base64, 'base64'),
    receiptJson: enc.encode(r.receipt_json)
  }
}

/** Reads a peer's capability record as the exact bytes received (unverified: the caller verifies them). */
export async function fetchCapability (stream: Stream, signal?: AbortSignal, timeoutMs = DEFAULT_ANSWER_TIMEOUT_MS): Promise<Uint8Array> {
  const lp = messageStream(stream, MAX_CONTROL_BYTES)
  let record
  try {
    record = await readMessage(lp, 'capability record', signal, timeoutMs)
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error('capability stream failed'))
    throw err
  }
  await stream.close().catch(() => {})
  return record
}

function remoteError (msg: Record<string, unknown>): PhaseError {
  const code = typeof msg.code === 'string' && msg.code in ERROR_TABLE ? msg.code as ErrorCode : 'internal'
  // The peer's words reach logs and terminals: control characters escaped, length capped.
  return new PhaseError(code, `peer refused: ${sanitize(String(msg.message ?? msg.type ?? 'no reason').slice(0, 200))}`)
}
