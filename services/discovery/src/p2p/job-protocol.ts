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
import { PhaseError, ERROR_TABLE, toPublicError, type ErrorCode } from '../../../core/src/errors.ts'
import type { Logger } from '../../../core/src/logger.ts'
import type { JobRunner } from '../jobs.ts'
import type { CapabilityRecord } from '../../../core/src/crypto/capability.ts'
import type { PeerLimiter } from './peer-limits.ts'

export const JOB_PROTOCOL = '/phase/job/1.0.0'
export const CAPABILITY_PROTOCOL = '/phase/capability/1.0.0'
/** Control messages (offer, accept, capability) are small; only module and result carry bulk. */
export const MAX_CONTROL_BYTES = 1024 * 1024

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

type Lp = ReturnType<typeof lpStream>

async function readJson (lp: Lp, what: string, signal?: AbortSignal): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  let bytes
  try {
    bytes = await lp.read({ signal })
  } catch (err) {
    // The length prefix announced more than the cap: refused before any of it is buffered.
    if ((err as Error).name === 'InvalidDataLengthError') throw new PhaseError('module_too_large', `${what} is larger than this node accepts`)
    throw err
  }
  let doc: unknown
  try { doc = JSON.parse(dec.decode(bytes.subarray())) } catch { throw new PhaseError('invalid_json', `${what} is not valid JSON`) }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new PhaseError('invalid_json', `${what} must be a JSON object`)
  return doc as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
}

const writeJson = async (lp: Lp, doc: unknown, signal?: AbortSignal): Promise<void> => await lp.write(enc.encode(JSON.stringify(doc)), { signal })

export interface JobServerComponents {
  jobs: Pick<JobRunner, 'run' | 'running'>
  modules: { has: (hash: string) => boolean }
  logger: Logger
  /** Called once per stream with how it ended. */
  count?: (outcome: 'in' | 'refused') => void
}

export interface JobServerInit {
  maxMessageBytes: number
  /** Remote jobs accepted at once; more are rejected with queue_full. */
  maxInFlight: number
  /** Per-peer concurrency and rate. */
  limiter: PeerLimiter
}

/** Serves `/phase/job/1.0.0` streams. */
export function jobStreamHandler (c: JobServerComponents, init: JobServerInit): (stream: Stream, peer: string) => Promise<void> {
  let inFlight = 0
  return async (stream, peer) => {
    const lp = lpStream(stream, { maxDataLength: init.maxMessageBytes })
    const log = c.logger.child({ peer })
    let release = (): void => {}
    try {
      // Refuse a flooding peer before reading (and buffering) anything it sends.
      release = init.limiter.acquire(peer)
      const offer = await readJson(lp, 'offer')
      if (offer.type !== 'offer' || offer.version !== 1) throw new PhaseError('invalid_json', 'expected an offer of version 1')
      const manifest = parseManifest(offer.manifest)
      if (inFlight >= init.maxInFlight) throw new PhaseError('queue_full', 'this node is at capacity for remote jobs')
      const needModule = !c.modules.has(manifest.module_hash)
      await writeJson(lp, { type: 'accept', need_module: needModule })
      let module: Uint8Array | undefined
      if (needModule) {
        const msg = await readJson(lp, 'module')
        if (msg.type !== 'module' || typeof msg.module_base64 !== 'string') throw new PhaseError('invalid_json', 'expected the module')
        module = Buffer.from(msg.module_base64, 'base64')
      }
      inFlight++
      log.info({ event: 'job_in', moduleHash: manifest.module_hash }, 'remote job in')
      try {
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
      } finally {
        inFlight--
      }
      c.count?.('in')
      await stream.close()
    } catch (err) {
      const pub = toPublicError(err)
      if (pub !== err) log.error({ err }, 'remote job failed')
      log.info({ event: 'rejected', code: pub.code }, 'remote job refused')
      c.count?.('refused')
      await writeJson(lp, { type: pub.code === 'queue_full' ? 'reject' : 'error', code: pub.code, message: pub.message }).catch(() => {})
      await stream.close().catch(() => stream.abort(err as Error))
    } finally {
      release()
    }
  }
}

/** Serves `/phase/capability/1.0.0`: the current signed record, then close. */
export function capabilityStreamHandler (record: () => Promise<CapabilityRecord>): (stream: Stream) => Promise<void> {
  return async (stream) => {
    const lp = lpStream(stream, { maxDataLength: MAX_CONTROL_BYTES })
    await writeJson(lp, await record())
    await stream.close()
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
export async function offerJob (stream: Stream, manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, maxMessageBytes: number }): Promise<RemoteResult> {
  const lp = lpStream(stream, { maxDataLength: options.maxMessageBytes })
  const signal = options.signal
  await writeJson(lp, { type: 'offer', version: 1, manifest }, signal)
  const answer = await readJson(lp, 'answer', signal)
  if (answer.type !== 'accept') throw remoteError(answer)
  if (answer.need_module === true) await writeJson(lp, { type: 'module', module_base64: Buffer.from(await loadModule()).toString('base64') }, signal)
  const r = await readJson(lp, 'result', signal)
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

/** Reads a peer's capability record (unverified: the caller verifies it). */
export async function fetchCapability (stream: Stream, signal?: AbortSignal): Promise<unknown> {
  const lp = lpStream(stream, { maxDataLength: MAX_CONTROL_BYTES })
  const record = await readJson(lp, 'capability record', signal)
  await stream.close().catch(() => {})
  return record
}

function remoteError (msg: Record<string, unknown>): PhaseError {
  const code = typeof msg.code === 'string' && msg.code in ERROR_TABLE ? msg.code as ErrorCode : 'internal'
  return new PhaseError(code, `peer refused: ${String(msg.message ?? msg.type ?? 'no reason').slice(0, 200)}`)
}
