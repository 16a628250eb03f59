/**
 * `/phase/job/2.0.0`: jobs one after another on a stream that stays open, one round trip per job
 * when the peer holds the module. Length-prefixed JSON messages, every one capped:
 *   client → job {version: 2, manifest, module_base64?}
 *   server → result {...receipt_json, outputs?: [{path, data_base64}]}
 *          | need {module: bool, inputs: [hash]}   (what it lacks; the job holds its slot)
 *              client → blobs {module_base64}                       (when module)
 *              client → input {hash, bytes}, then the bytes in frames of ≤ 256 KiB, per hash
 *              server → result | error
 *          | reject {code: queue_full}  (capacity: this peer's concurrency or rate, or the node's)
 *          | error {code, message}      (the job's own typed refusal)
 * Input files the node holds travel as their hash only (the manifest names them); those it asks
 * for are capped per job (`maxInputBytes`, checked from each header before anything is
 * allocated) and checked against their hashes. The client sends only hashes the job names. The
 * client checks output files against the receipt's `outputs` (output-files.ts).
 * After a result, reject or error the stream carries the next job. The server ends a stream that
 * stays idle for `p2p.read_timeout_ms`, and at once one that breaks the framing; the client keeps
 * a bounded pool of idle streams per peer (job-streams.ts) and ends them sooner than that.
 *
 * The bounds of 1.0.0 hold per job (per-peer concurrency and rate, the node's remote-job cap,
 * the message caps, a read deadline on every message), the bytes a stream received count against
 * the inbound budget until its job is done, and a peer holds at most `maxStreamsPerPeer` job
 * streams open here.
 */
import type { Stream } from '@libp2p/interface'
import { configDefault, manifestInputs, parseManifest, type Manifest } from '@phase-network/protocol'
import { HashMismatchError, LimitExceededError, PhaseError, QueueFullError, UnavailableError, isPhaseError, toPublicError } from '@phase-network/protocol'
import { contentHash } from '@phase-network/protocol/node'
import type { EventLog } from '@phase-network/process'
import type { JobServerComponents, JobServerInit, Lp, RemoteResult } from './job-protocol.ts'
import { REFUSAL_GRACE_MS, finish, messageStream, readMessage, readJson, resultMessage, resultOf, varintBytes, writeJson, writeMessage } from './job-protocol.ts'

export const JOB_PROTOCOL_2 = '/phase/job/2.0.0'

const dec = new TextDecoder('utf-8', { fatal: true })

/** What the 2.0.0 server shares with the 1.0.0 one: the node's remote-job slots and stream count. */
export interface SharedSlots {
  /** Takes one of the node's remote-job slots; false when all are taken. */
  take: () => boolean
  give: () => void
  /** Counts a stream being served (for load()). */
  enter: () => void
  leave: () => void
}

export interface JobServer2Init extends JobServerInit {
  /** Job streams one peer may hold open here at once (idle or busy); more are refused with queue_full. Default (jobStreamHandler): its concurrency + 4. */
  maxStreamsPerPeer: number
  /** Bytes of input files one remote job may send. Default: DEFAULT_MAX_INPUT_BYTES. */
  maxInputBytes?: number
  /** Where refusals are counted and logged, shared with 1.0.0's (jobStreamHandler's). */
  refusals: EventLog
}

/** Input bytes one remote job may send by default: a local job's cap (limits.max_input_bytes). */
export const DEFAULT_MAX_INPUT_BYTES = configDefault('limits.max_input_bytes')
/** Frame size of input file bytes on the wire (well under any message cap). */
export const INPUT_CHUNK_BYTES = 256 * 1024

/** An input file's bytes, named by its hash (a JobRequest carries these). */
export interface InputBlob {
  hash: string
  data: Uint8Array
}

/** An error of the stream itself (framing, deadline, reset): the stream ends with it. */
class StreamBroken extends Error {
  readonly error: unknown
  constructor (error: unknown) {
    super('job stream broken')
    this.error = error
  }
}

/** Serves `/phase/job/2.0.0` streams. */
export function jobStreamHandler2 (c: JobServerComponents, init: JobServer2Init, slots: SharedSlots): (stream: Stream, peer: string) => Promise<void> {
  const open = new Map<string, number>()
  const refusals = init.refusals
  return async (stream, peer) => {
    slots.enter()
    const log = c.logger.child({ peer })
    // Every byte the peer sends is charged as it arrives; a job's bytes are given back when it is done.
    const meter = init.budget.meter(stream, peer)
    const lp = messageStream(stream, init.maxMessageBytes)
    const held = open.get(peer) ?? 0
    open.set(peer, held + 1)
    // Bytes of the messages read for the job being served (given back to the budget after it).
    let consumed = 0
    const io = async <T>(p: Promise<T>): Promise<T> => { try { return await p } catch (err) { throw new StreamBroken(err) } }
    const read = async (what: string, timeoutMs: number): Promise<Record<string, any>> => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const bytes = await io(readMessage(lp, what, 'server', undefined, timeoutMs))
      consumed += bytes.byteLength + varintBytes(bytes.byteLength)
      let doc: unknown
      try { doc = JSON.parse(dec.decode(bytes)) } catch { throw new StreamBroken(new PhaseError('invalid_json', `${what} is not valid JSON`)) }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new StreamBroken(new PhaseError('invalid_json', `${what} must be a JSON object`))
      return doc as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    }
    const send = async (doc: unknown, what: string): Promise<void> => { await io(writeJson(lp, doc, what, undefined, init.readTimeoutMs)) }
    /**
     * One input file: a header {type: input, hash, bytes}, then its bytes in frames. Its size is
     * checked against what is left of the job's input cap before anything is allocated; a file
     * that does not fit ends the stream (the peer is sending it already).
     */
    const readInput = async (hash: string, left: number): Promise<Uint8Array> => {
      const head = await read('input file header', init.readTimeoutMs)
      if (head.type !== 'input' || head.hash !== hash || !Number.isSafeInteger(head.bytes) || head.bytes < 0) throw new StreamBroken(new PhaseError('invalid_json', `expected input file ${hash}`))
      if (head.bytes > left) throw new StreamBroken(new LimitExceededError(`input files are larger than this node accepts for one remote job (${init.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES} bytes)`))
      const data = Buffer.allocUnsafe(head.bytes)
      let at = 0
      while (at < data.byteLength) {
        const chunk = await io(readMessage(lp, 'input file bytes', 'server', undefined, init.readTimeoutMs))
        consumed += chunk.byteLength + varintBytes(chunk.byteLength)
        if (chunk.byteLength === 0 || at + chunk.byteLength > data.byteLength) throw new StreamBroken(new PhaseError('invalid_json', `input file ${hash} is longer than its header says`))
        data.set(chunk, at)
        at += chunk.byteLength
      }
      return data
    }

    /** One job, from its first message to its answer. Typed refusals are answered; the stream goes on. */
    const serveOne = async (msg: Record<string, any>): Promise<void> => { // eslint-disable-line @typescript-eslint/no-explicit-any
      let release = (): void => {}
      let slot = false
      try {
        if (msg.type !== 'job' || msg.version !== 2) throw new StreamBroken(new PhaseError('invalid_json', 'expected a job of version 2'))
        // Per job: this peer's concurrency and rate, then the node's slots (no await between).
        release = init.limiter.acquire(peer)
        const manifest = parseManifest(msg.manifest)
        if (!slots.take()) throw new QueueFullError('this node is at capacity for remote jobs')
        slot = true
        let module: Uint8Array | undefined
        if (typeof msg.module_base64 === 'string') module = Buffer.from(msg.module_base64, 'base64')
        const needModule = module === undefined && !c.modules.has(manifest.module_hash)
        // Input files this node lacks, each asked for once (hash-only resubmission otherwise).
        const lacking = [...new Set(manifestInputs(manifest).map((i) => i.hash))].filter((h) => !c.modules.has(h))
        const inputs: InputBlob[] = []
        if (needModule || lacking.length > 0) {
          await send({ type: 'need', module: needModule, inputs: lacking }, 'the request for the module and input files')
          if (needModule) {
            const blobs = await read('module', init.readTimeoutMs)
            if (blobs.type !== 'blobs' || typeof blobs.module_base64 !== 'string') throw new StreamBroken(new PhaseError('invalid_json', 'expected the module'))
            module = Buffer.from(blobs.module_base64, 'base64')
          }
          let budget = init.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES
          for (const hash of lacking) {
            const data = await readInput(hash, budget)
            budget -= data.byteLength
            inputs.push({ hash, data })
          }
          // Every byte was read, so the stream is still in step: a file that is not what its hash
          // says refuses only this job.
          for (const { hash, data } of inputs) {
            const actual = contentHash(data)
            if (actual !== hash) throw new HashMismatchError(`input file bytes hash to ${actual}, the manifest says ${hash}`)
          }
        }
        log.debug({ event: 'job_in', moduleHash: manifest.module_hash }, 'remote job in')
        // JobRunner stores the input files it is given, like a module (hash-only next time).
        const r = await c.jobs.run({ manifest, module, ...(inputs.length > 0 ? { inputs } : {}) }, { origin: 'remote' })
        await send({
          ...resultMessage(r),
          ...(r.outputs !== undefined && r.outputs.length > 0 ? { outputs: r.outputs.map((f) => ({ path: f.path, data_base64: Buffer.from(f.data).toString('base64') })) } : {})
        }, 'the result')
        c.count?.('in')
      } catch (err) {
        if (err instanceof StreamBroken) throw err
        const pub = toPublicError(err)
        if (!isPhaseError(err)) log.error({ err }, 'remote job failed')
        refusals.note({ event: 'rejected', peer, code: pub.code, reason: pub.message })
        c.count?.('refused')
        await send({ type: pub.code === 'queue_full' ? 'reject' : 'error', code: pub.code, message: pub.message }, 'the refusal')
      } finally {
        if (slot) slots.give()
        release()
      }
    }

    let jobs = 0
    try {
      if (held >= init.maxStreamsPerPeer) throw new StreamBroken(new QueueFullError(`peer holds ${held} job streams here, the limit is ${init.maxStreamsPerPeer}`))
      for (;;) {
        let msg
        try {
          msg = await read(jobs === 0 ? 'job' : 'next job', init.readTimeoutMs)
        } catch (err) {
          // After a job, a stream the peer closes, or leaves idle past the read deadline, just ends.
          const e = (err as StreamBroken).error
          const ended = stream.remoteWriteStatus !== 'writable' || stream.status !== 'open'
          if (jobs > 0 && (isPhaseError(e, 'deadline_exceeded') || ended)) {
            await finish(stream, Math.min(init.readTimeoutMs, REFUSAL_GRACE_MS))
            return
          }
          throw err
        }
        await serveOne(msg)
        jobs++
        meter.free(consumed)
        consumed = 0
      }
    } catch (err) {
      const cause = err instanceof StreamBroken ? err.error : err
      const pub = toPublicError(cause)
      if (!isPhaseError(cause)) log.error({ err: cause }, 'remote job stream failed')
      refusals.note({ event: 'rejected', peer, code: pub.code, reason: pub.message })
      c.count?.('refused')
      if (stream.status === 'open' && stream.writeStatus === 'writable') await writeJson(lp, { type: pub.code === 'queue_full' ? 'reject' : 'error', code: pub.code, message: pub.message }, 'the refusal', undefined, init.readTimeoutMs).catch(() => {})
      await finish(stream, Math.min(init.readTimeoutMs, REFUSAL_GRACE_MS), cause)
    } finally {
      const n = (open.get(peer) ?? 1) - 1
      if (n === 0) open.delete(peer)
      else open.set(peer, n)
      slots.leave()
      meter()
    }
  }
}

/** A stream of `/phase/job/2.0.0` with its reader (which keeps what it buffered between jobs). */
export interface JobChannel {
  stream: Stream
  lp: Lp
}

export function jobChannel (stream: Stream, maxMessageBytes: number): JobChannel {
  return { stream, lp: messageStream(stream, maxMessageBytes) }
}

/** How a job went on its stream: whether the peer answered, and whether the stream may carry another. */
export interface JobState { answered: boolean, reusable: boolean }

/**
 * Client side of one job on a 2.0.0 stream: the job with its module hash only, the module when
 * the peer asks for it. `answered` is set once the peer said anything about this job (a job that
 * failed before that never reached the peer's runner, and may be sent again on another stream).
 * On a broken exchange the stream is aborted, never reused.
 */
export async function runJob2 (ch: JobChannel, manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, state?: JobState, loadInput?: (hash: string) => Promise<Uint8Array> }): Promise<RemoteResult> {
  const { lp, stream } = ch
  const signal = options.signal
  const state = options.state ?? { answered: false, reusable: false }
  let answer
  try {
    await writeJson(lp, { type: 'job', version: 2, manifest }, 'the job', signal)
    answer = await readJson(lp, 'answer', 'client', signal)
    state.answered = true
    if (answer.type === 'need') {
      // Only what this job names: a peer cannot make this node send anything else.
      const named = new Set(manifestInputs(manifest).map((i) => i.hash))
      const wanted: unknown[] = Array.isArray(answer.inputs) ? answer.inputs : []
      if (typeof answer.module !== 'boolean' || !wanted.every((h) => typeof h === 'string' && named.has(h)) || new Set(wanted).size !== wanted.length) throw new UnavailableError('peer asked for something this job does not name')
      if (answer.module) await writeJson(lp, { type: 'blobs', module_base64: Buffer.from(await loadModule()).toString('base64') }, 'the module', signal)
      for (const hash of wanted as string[]) {
        if (options.loadInput === undefined) throw new UnavailableError('no input files to send')
        const data = await options.loadInput(hash)
        await writeJson(lp, { type: 'input', hash, bytes: data.byteLength }, 'an input file header', signal)
        for (let at = 0; at < data.byteLength; at += INPUT_CHUNK_BYTES) await writeMessage(lp, data.subarray(at, at + INPUT_CHUNK_BYTES), 'input file bytes', signal)
      }
      answer = await readJson(lp, 'result', 'client', signal)
    }
  } catch (err) {
    // Nothing more is read from this stream: reset it rather than leave it to the peer.
    stream.abort(err instanceof Error ? err : new Error('job stream failed'))
    throw err
  }
  // A result or a typed refusal ends the job cleanly: the stream carries the next one.
  state.reusable = answer.type === 'result' || answer.type === 'reject' || answer.type === 'error'
  if (!state.reusable) stream.abort(new Error('unexpected answer on a job stream'))
  return resultOf(answer)
}
