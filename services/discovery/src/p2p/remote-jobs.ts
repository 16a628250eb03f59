/**
 * Running jobs on other nodes: which peer (the one named, else the best connected peers that
 * speak the job protocol and meet the job's requirements, else executors found through the
 * DHT), fail-over to the next one when a peer fails, and the checks of DESIGN §3 "Trust" on
 * what comes back: the receipt verified against the key bound to the PeerId we dialed (through
 * its capability record), the job it names, the output bytes received, and the unsigned message
 * around it. A result that fails a check is an error, never a result.
 */
import type { PeerId } from '@libp2p/interface'
// node:crypto verifies ~10× faster than the portable verifier; the checks are the same code.
import { verifyReceiptNode, contentHash } from '@phase-network/protocol/node'
import { canonicalBytes, jobIdOf, inputsHashOf, UnavailableError, VerificationError, isPhaseError, type CapabilityRecord, type Manifest, type Receipt } from '@phase-network/protocol'
import { EventLog, sanitize, type Logger } from '@phase-network/process'
import type { RemoteResult } from './job-protocol.ts'
import type { JobStreams } from './job-streams.ts'
import { checkOutputFiles } from './output-files.ts'
import { deadline } from '../deadline.ts'
import { peerIdOf } from './peer-ids.ts'
import { meets, type Requirements } from './providers.ts'
import type { FoundExecutor } from './find-executors.ts'
import type { Evidence, Reputation } from './reputation.ts'

/** Peers tried for one remote job before giving up. */
export const MAX_ATTEMPTS = 3
/** Longest wait for one connected peer's capability record when matching a job's requirements, ms. */
export const REQUIREMENTS_CHECK_MS = 5000
/** Longest text of a peer's claim quoted in an error. */
const MAX_QUOTED = 80

export interface RemoteOutcome extends RemoteResult {
  peerId: string
  /** The manifest's canonical JSON (what the job id the receipt names hashes). */
  manifestJson: Uint8Array
  /** The verified capability record of the peer that ran the job. */
  capability: CapabilityRecord
}

export interface RemoteRunOptions {
  peerId?: string
  exclude?: ReadonlySet<string>
  signal?: AbortSignal
  timeoutMs: number
  /** The bytes of one of the manifest's input files, for a peer that lacks it. */
  loadInput?: (hash: string) => Promise<Uint8Array>
}

export interface RemoteJobsComponents {
  logger: Logger
  streams: Pick<JobStreams, 'run'>
  /** The peer's verified capability record (cached, else fetched). */
  capability: (peer: string, signal: AbortSignal) => Promise<CapabilityRecord>
  /** Connected peers that said (identify) they speak the job protocol. */
  jobPeers: () => Promise<string[]>
  /** Executors found through the DHT that meet `req`. */
  findExecutors: (req: Requirements) => Promise<FoundExecutor[]>
  /** Where what a job taught of its peer goes, and what orders the candidates. */
  reputation: Pick<Reputation, 'record' | 'rank'>
}

/** What remote jobs did since start, for GetNodeInfo and metrics. */
export interface RemoteCounts { jobsOut: number, jobsOutFailed: number, receiptsRefused: number }

export class RemoteJobs {
  private readonly c: RemoteJobsComponents
  readonly counts: RemoteCounts = { jobsOut: 0, jobsOutFailed: 0, receiptsRefused: 0 }
  /** A line per period (a client decides how many remote jobs it sends, a peer how they fail). */
  private readonly failures: EventLog

  constructor (components: RemoteJobsComponents) {
    this.c = components
    this.failures = new EventLog(components.logger, 'warn', 'remote job failed')
  }

  /** Writes what its log holds back (at stop). */
  close (): void { this.failures.close() }

  /**
   * Runs a job on another node: `peerId` when given, else the best candidates for the manifest,
   * failing over up to MAX_ATTEMPTS of them.
   */
  async run (manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: RemoteRunOptions): Promise<RemoteOutcome> {
    const candidates = options.peerId !== undefined ? [options.peerId] : (await this.candidatesFor(manifest)).filter((p) => options.exclude?.has(p) !== true)
    if (candidates.length === 0) throw new UnavailableError('no peer that runs jobs is connected')
    let last: unknown
    // Once per job, not per attempt: the job id every receipt must name.
    const manifestJson = canonicalBytes(manifest)
    const jobId = contentHash(manifestJson)
    for (const peer of candidates.slice(0, MAX_ATTEMPTS)) {
      const started = performance.now()
      try {
        return { ...await this.runOn(peer, manifest, jobId, loadModule, options), manifestJson }
      } catch (err) {
        last = err
        const evidence = evidenceOfError(err, options.signal?.aborted === true)
        // A peer that missed the deadline was as slow as the wait: its round trip says so.
        if (evidence !== undefined) this.c.reputation.record(peer, evidence, isPhaseError(err, 'deadline_exceeded') ? performance.now() - started : undefined)
        this.counts.jobsOutFailed++
        if (isPhaseError(err, 'verification_failed')) this.counts.receiptsRefused++
        this.failures.note({ event: 'job_out_failed', peer, code: isPhaseError(err) ? err.code : 'internal', err: (err as Error).message })
        if (options.peerId !== undefined || options.signal?.aborted === true) break
      }
    }
    // What broke is named (a stream reset, a refused protocol, a dial that failed): the caller
    // has no log to read. The name only: messages can hold local paths or a peer's addresses.
    throw isPhaseError(last) ? last : new UnavailableError(`remote job failed on every peer tried (last: ${sanitize(errorName(last), MAX_QUOTED)})`, { cause: last })
  }

  /** Up to `count` distinct connected peers that run jobs, best first, none of `exclude`. */
  async pick (count: number, exclude: ReadonlySet<string> = new Set()): Promise<string[]> {
    return (await this.ranked()).filter((p) => !exclude.has(p)).slice(0, count)
  }

  private async runOn (peer: string, manifest: Manifest, jobId: string, loadModule: () => Promise<Uint8Array>, options: RemoteRunOptions): Promise<Omit<RemoteOutcome, 'manifestJson'>> {
    // The job's deadline, cleared when it is over (a timer left armed would fire long after).
    const wait = deadline(options.signal, options.timeoutMs)
    const signal = wait.signal!
    let cap: CapabilityRecord
    let result: RemoteResult
    let started: number
    try {
      const id: PeerId = peerIdOf(peer)
      cap = await this.c.capability(peer, signal)
      started = performance.now()
      result = await this.c.streams.run(id, manifest, loadModule, { signal, loadInput: options.loadInput })
    } finally {
      wait.clear()
    }
    const verified = checkResult(peer, cap, manifest, result, jobId)
    this.c.reputation.record(peer, 'verified', performance.now() - started)
    this.counts.jobsOut++
    // Per job at debug, as local jobs are not logged at all: a synchronous info line cost ~0.2 ms
    // of CPU per remote job (bench profile); failures stay at warn.
    this.c.logger.debug({ event: 'job_out', peer, status: verified.status }, 'remote job done')
    return { ...verified, peerId: peer, capability: cap }
  }

  /** Connected peers that meet the manifest's requirements, best first; the DHT when none does. */
  private async candidatesFor (manifest: Manifest): Promise<string[]> {
    const req = manifest.requirements
    const connected = await this.ranked()
    if (req === undefined) return connected
    const matching: string[] = []
    for (const peer of connected) {
      const record = await this.c.capability(peer, AbortSignal.timeout(REQUIREMENTS_CHECK_MS)).catch(() => undefined)
      if (record !== undefined && meets(record, req)) matching.push(peer)
    }
    if (matching.length > 0) return matching
    return (await this.c.findExecutors(req)).map((e) => e.peerId)
  }

  private async ranked (): Promise<string[]> {
    return this.c.reputation.rank(await this.c.jobPeers())
  }
}

/** The name of an error that is not one of ours (its class, as libp2p's errors name theirs). */
function errorName (err: unknown): string {
  return err instanceof Error ? err.name : typeof err
}

/**
 * What a failed job says of its peer: nothing when the caller gave up or the fault is this
 * node's (a module or input file it no longer holds); else a refused receipt, a failure
 * (unavailable, deadline, broken stream) or a typed refusal.
 */
export function evidenceOfError (err: unknown, callerGaveUp: boolean): Evidence | undefined {
  if (callerGaveUp || isPhaseError(err, 'cancelled') || isPhaseError(err, 'module_not_cached') || isPhaseError(err, 'input_not_cached')) return undefined
  if (isPhaseError(err, 'verification_failed')) return 'receipt_refused'
  if (!isPhaseError(err) || isPhaseError(err, 'unavailable') || isPhaseError(err, 'deadline_exceeded') || isPhaseError(err, 'internal')) return 'failure'
  return 'refusal'
}

/**
 * The checks of DESIGN §3 "Trust" on a peer's result, against the key bound to the PeerId we
 * dialed: the receipt's signature and key, the job it names (id, nonce, module, inputs), stdout
 * and stderr as received, every output file as the receipt lists it, and the message's own
 * claims. Returns the result as its verified receipt says.
 */
export function checkResult (peer: string, cap: Pick<CapabilityRecord, 'receipt_public_key'>, manifest: Manifest, result: RemoteResult, jobId = jobIdOf(manifest, contentHash)): RemoteResult {
  const { receipt } = verifyReceiptNode(result.receiptJson, {
    publicKey: cap.receipt_public_key,
    peerId: peer,
    job: { jobId, nonce: manifest.nonce, moduleHash: manifest.module_hash, inputsHash: inputsHashOf(manifest, contentHash) },
    outputs: { stdout: result.stdout, stderr: result.stderr }
  })
  // Every output file as its receipt lists it (path, sha256, size), like stdout.
  const outputs = checkOutputFiles(receipt.outputs, result.outputs)
  return { ...fromReceipt(result, receipt), ...(outputs.length > 0 ? { outputs } : {}) }
}

/**
 * A remote result as its verified receipt says: job id, status and exit code are taken from the
 * signed receipt, never from the peer's unsigned message; a message that says otherwise is a
 * lying (or broken) peer, refused like a bad signature.
 */
export function fromReceipt (result: RemoteResult, receipt: Pick<Receipt, 'job_id' | 'status' | 'exit_code'>): RemoteResult {
  const claims: Array<[string, unknown, unknown]> = [['job_id', result.jobId, receipt.job_id], ['status', result.status, receipt.status], ['exit_code', result.exitCode, receipt.exit_code]]
  for (const [field, said, signed] of claims) {
    if (said !== signed) throw new VerificationError(field, `the peer's message says ${field} ${sanitize(said, MAX_QUOTED)}, its signed receipt says ${sanitize(signed, MAX_QUOTED)}`)
  }
  return { ...result, jobId: receipt.job_id, status: receipt.status, exitCode: receipt.exit_code }
}
