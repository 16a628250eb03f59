/**
 * Running one job for a client: validate the manifest and module, enforce the node's caps,
 * refuse replays, run on a local executor, have the signer sign the receipt, and hand back
 * output + receipt. The only path from a request to a signature.
 */
import { parseManifest, inputsHashOf, manifestProfile, manifestStdin, type Manifest } from '@phase-network/protocol'
import { jobFuel, meteringMembers } from './metering.ts'
import type { ReceiptOutput, TrapReason, UnsignedReceipt } from '@phase-network/protocol'
import { contentHash } from '@phase-network/protocol/node'
import { canonicalBytes } from '@phase-network/protocol'
import { HashMismatchError, LimitExceededError, ModuleNotCachedError, ModuleTooLargeError, ReplayedJobError, QueueFullError, RuntimeUnavailableError, isPhaseError, PhaseError } from '@phase-network/protocol'
import { sanitize } from '@phase-network/process'
import type { LimitsConfig } from '@phase-network/process'
import type { Logger } from '@phase-network/process'
import type { ExecutorSet } from './executors.ts'
import type { InputStore, ModuleStore } from './module-store.ts'
import { admitInputs, type InputBlob } from './input-files.ts'
import type { SignerClient } from './signer-client.ts'
import { ReplayGuard } from './replay-guard.ts'
import type { NodeMetrics } from './metrics.ts'

/** Extra time the executor call gets beyond the job's own wall-time limit. */
const EXECUTOR_DEADLINE_SLACK_MS = 5000

export interface JobRequest {
  /** Manifest JSON bytes, or an already parsed value (HTTP gateway). */
  manifest: Uint8Array | unknown
  /** Module bytes, when the client sends them. */
  module?: Uint8Array
  /** Bytes of the manifest's input files the client sends (cached ones may be left out). */
  inputs?: readonly InputBlob[]
}

/** A file the job wrote under /out (the receipt's `outputs` lists its hash and size). */
export interface OutputFile {
  path: string
  data: Uint8Array
}

export interface JobResult {
  jobId: string
  manifest: Manifest
  /** The manifest's canonical JSON (what the job id hashes). */
  manifestJson: Uint8Array
  status: string
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  receiptJson: Uint8Array
  executor: number
  /** The module's own wall time in the executor (local runs). */
  wallTimeUs?: number
  /** The files the job wrote under /out, sorted by path (none: empty or absent). */
  outputs?: OutputFile[]
}

/** Where a job comes from: this node's clients, or another node over `/phase/job/1.0.0`. */
export type JobOrigin = 'local' | 'remote'

export interface JobRunOptions {
  signal?: AbortSignal
  /** Default: local. Remote jobs run under `JobRunnerInit.remote`. */
  origin?: JobOrigin
}

/** Caps of remote jobs: lower than local ones, and a bounded share of the executors. */
export interface RemoteJobCaps {
  maxTimeoutMs: number
  maxMemoryMb: number
  /** Remote jobs running at once (a function when the executor count changes). */
  maxJobs: number | (() => number)
}

export interface JobRunnerComponents {
  executors: Pick<ExecutorSet, 'execute'>
  modules: Pick<ModuleStore, 'has' | 'get' | 'put'>
  /** Input files by hash. Default: none cached (every input file must be sent with its job). */
  inputs?: Pick<InputStore, 'has' | 'get' | 'put' | 'sizeOf'>
  signer: Pick<SignerClient, 'publicKey' | 'sign'>
  logger: Logger
  metrics?: Pick<NodeMetrics, 'jobDone' | 'jobFailed'>
  /** Job ids seen (default: a new guard of `replayWindow` ids); pass one loaded from the signer's log. */
  replays?: ReplayGuard
  /** The runtime this node's executors run (what `requirements.runtime` must name). Default: not checked. */
  runtime?: () => Promise<{ name: string }>
}

export interface JobRunnerInit {
  limits: LimitsConfig
  peerId: string
  /** Jobs accepted at once before QueueFullError (a function when the executor count changes). */
  maxInFlight: number | (() => number)
  /** Job ids remembered against replay. Default: 100000. */
  replayWindow?: number
  /** Caps of remote jobs. Default: the local caps, no share limit. */
  remote?: RemoteJobCaps
}

export class JobRunner {
  private readonly c: JobRunnerComponents
  private readonly init: JobRunnerInit
  private readonly replays: ReplayGuard
  private inFlight = 0
  private remoteInFlight = 0

  constructor (components: JobRunnerComponents, init: JobRunnerInit) {
    this.c = components
    this.init = init
    this.replays = components.replays ?? new ReplayGuard(init.replayWindow ?? 100_000)
  }

  get running (): number { return this.inFlight }

  async run (request: JobRequest, options: JobRunOptions = {}): Promise<JobResult> {
    const metrics = this.c.metrics
    if (metrics === undefined) return await this.runJob(request, options)
    const start = performance.now()
    try {
      const result = await this.runJob(request, options)
      metrics.jobDone(result.status, (performance.now() - start) / 1000, (result.wallTimeUs ?? 0) / 1e6)
      return result
    } catch (err) {
      metrics.jobFailed(isPhaseError(err) ? err.code : 'internal')
      throw err
    }
  }

  private async runJob (request: JobRequest, options: JobRunOptions): Promise<JobResult> {
    const manifest = parseManifest(request.manifest)
    const remote = options.origin === 'remote'
    await this.checkRuntime(manifest)
    const limits = this.effectiveLimits(manifest, remote)
    const stdin = manifestStdin(manifest)
    this.checkInputs(manifest, stdin)
    const moduleHash = manifest.module_hash
    await this.admitModule(moduleHash, request.module)
    const inputs = await admitInputs(this.c.inputs ?? NO_INPUT_STORE, manifest, request.inputs, this.init.limits)
    // jobIdOf(manifest), computed here so the canonical bytes serve the response as well.
    const manifestJson = canonicalBytes(manifest)
    const jobId = contentHash(manifestJson)
    const max = this.init.maxInFlight
    if (this.inFlight >= (typeof max === 'number' ? max : max())) throw new QueueFullError('node is at capacity, retry later')
    if (remote) this.admitRemote()
    if (!this.replays.claim(jobId)) throw new ReplayedJobError(`job ${jobId} was already submitted; use a fresh nonce`)
    this.inFlight++
    if (remote) this.remoteInFlight++
    // The id stays used once a receipt exists for it (issued here, or already in the signer's log).
    let receiptExists = false
    try {
      const inputFiles = await inputs.load()
      const { response, executor } = await this.c.executors.execute({
        jobId,
        moduleHash,
        args: [...(manifest.args ?? [])],
        env: { ...(manifest.env ?? {}) },
        stdin,
        limits: { memoryBytes: BigInt(limits.memory_bytes), timeoutMs: limits.timeout_ms, outputBytes: BigInt(limits.output_bytes), fuel: BigInt(limits.fuel ?? 0) },
        profile: manifestProfile(manifest),
        inputs: inputFiles
      }, async () => await this.moduleBytes(moduleHash), { signal: options.signal, timeoutMs: limits.timeout_ms + EXECUTOR_DEADLINE_SLACK_MS })
      const outputs = sortedOutputs(response.outputs)
      const unsigned: UnsignedReceipt = {
        version: 1,
        job_id: jobId,
        nonce: manifest.nonce,
        module_hash: moduleHash,
        inputs_hash: inputsHashOf(manifest, contentHash),
        stdout_hash: contentHash(response.stdout),
        stdout_bytes: response.stdout.byteLength,
        stderr_hash: contentHash(response.stderr),
        stderr_bytes: response.stderr.byteLength,
        status: response.status as UnsignedReceipt['status'],
        exit_code: Number(response.exitCode),
        limits,
        ...meteringMembers(manifestProfile(manifest), limits.fuel, response.fuelUsed),
        wall_time_us: Number(response.wallTimeUs),
        cpu_time_us: Number(response.cpuTimeUs),
        started_at: response.startedAt,
        finished_at: response.finishedAt,
        node: { peer_id: this.init.peerId, public_key: await this.c.signer.publicKey(options) },
        runtime: { name: response.runtimeName, version: response.runtimeVersion },
        ...receiptExtras(response, outputs)
      }
      const signed = await this.c.signer.sign(unsigned, options).catch((err: unknown) => {
        receiptExists = isPhaseError(err, 'replayed_job')
        // A receipt this node built and its own signer refused is the node's fault, not the
        // client's: logged with its cause, answered as internal.
        if (!isPhaseError(err, 'invalid_receipt')) throw err
        this.c.logger.error({ err, jobId, status: unsigned.status, exitCode: unsigned.exit_code }, 'signer refused a receipt this node built')
        throw new PhaseError('internal', 'internal error')
      })
      receiptExists = true
      this.c.logger.debug({ jobId, status: response.status, exitCode: unsigned.exit_code, executor, wallTimeUs: unsigned.wall_time_us }, 'job done')
      return {
        jobId,
        manifest,
        manifestJson,
        status: response.status,
        exitCode: unsigned.exit_code,
        stdout: response.stdout,
        stderr: response.stderr,
        receiptJson: signed.receiptJson,
        executor,
        wallTimeUs: unsigned.wall_time_us,
        outputs
      }
    } finally {
      this.inFlight--
      if (remote) this.remoteInFlight--
      // A job that got no receipt (refused, failed, or signing failed) may be submitted again.
      if (!receiptExists) this.replays.release(jobId)
    }
  }

  /** A job that names a runtime runs on it or not at all: never silently on another. */
  private async checkRuntime (manifest: Manifest): Promise<void> {
    const wanted = manifest.requirements?.runtime
    if (wanted === undefined || wanted === '' || this.c.runtime === undefined) return
    const local = (await this.c.runtime()).name
    if (wanted !== local) throw new RuntimeUnavailableError(`the job requires runtime '${sanitize(wanted, 64)}' and this node runs ${local}: send it to a node that offers it (target remote)`)
  }

  /** Remote jobs hold at most their share of the executors, so local work always gets through. */
  private admitRemote (): void {
    const max = this.init.remote?.maxJobs
    if (max === undefined) return
    if (this.remoteInFlight >= (typeof max === 'number' ? max : max())) throw new QueueFullError('this node is at capacity for remote jobs, retry later')
  }

  /** The limits the job runs under: the manifest's asks or the node's defaults, never above the caps. */
  private effectiveLimits (manifest: Manifest, remote: boolean): UnsignedReceipt['limits'] {
    const r = remote ? this.init.remote : undefined
    const caps = r === undefined
      ? this.init.limits
      : { ...this.init.limits, maxMemoryMb: r.maxMemoryMb, maxTimeoutMs: r.maxTimeoutMs, defaultMemoryMb: Math.min(this.init.limits.defaultMemoryMb, r.maxMemoryMb), defaultTimeoutMs: Math.min(this.init.limits.defaultTimeoutMs, r.maxTimeoutMs) }
    const asked = manifest.limits ?? {}
    const memoryMb = asked.memory_mb ?? caps.defaultMemoryMb
    const timeoutMs = asked.timeout_ms ?? caps.defaultTimeoutMs
    const outputBytes = asked.output_bytes ?? caps.defaultOutputBytes
    const cap = r === undefined ? "this node's cap" : "this node's cap for remote jobs"
    if (memoryMb > caps.maxMemoryMb) throw new LimitExceededError(`limits.memory_mb ${memoryMb} is above ${cap} of ${caps.maxMemoryMb}`)
    if (timeoutMs > caps.maxTimeoutMs) throw new LimitExceededError(`limits.timeout_ms ${timeoutMs} is above ${cap} of ${caps.maxTimeoutMs}`)
    if (outputBytes > caps.maxOutputBytes) throw new LimitExceededError(`limits.output_bytes ${outputBytes} is above ${cap} of ${caps.maxOutputBytes}`)
    const fuel = jobFuel(manifest, caps.maxFuel)
    return { memory_bytes: memoryMb * 1024 * 1024, timeout_ms: timeoutMs, output_bytes: outputBytes, ...(fuel === undefined ? {} : { fuel }) }
  }

  private checkInputs (manifest: Manifest, stdin: Uint8Array): void {
    const caps = this.init.limits
    if (stdin.byteLength > caps.maxStdinBytes) throw new LimitExceededError(`stdin is ${stdin.byteLength} bytes, this node's cap is ${caps.maxStdinBytes}`)
    let argBytes = 0
    for (const a of manifest.args ?? []) argBytes += Buffer.byteLength(a) + 1
    for (const [k, v] of Object.entries(manifest.env ?? {})) argBytes += Buffer.byteLength(k) + Buffer.byteLength(v) + 2
    if (argBytes > caps.maxArgsBytes) throw new LimitExceededError(`args and env are ${argBytes} bytes, this node's cap is ${caps.maxArgsBytes}`)
  }

  /** Checks and stores sent module bytes; without bytes the module must be cached already. */
  private async admitModule (moduleHash: string, module: Uint8Array | undefined): Promise<void> {
    if (module === undefined || module.byteLength === 0) {
      if (!this.c.modules.has(moduleHash)) throw new ModuleNotCachedError(`module ${moduleHash} is not cached on this node; send its bytes`)
      return
    }
    if (module.byteLength > this.init.limits.maxModuleBytes) {
      throw new ModuleTooLargeError(`module is ${module.byteLength} bytes, this node's cap is ${this.init.limits.maxModuleBytes}`)
    }
    // Sent bytes are checked even when the hash is cached: a client sending other bytes under it
    // has a fault it must hear of (hashing costs less than receiving them did).
    const actual = contentHash(module)
    if (actual !== moduleHash) throw new HashMismatchError(`module bytes hash to ${actual}, manifest says ${moduleHash}`)
    if (this.c.modules.has(moduleHash)) return
    await this.c.modules.put(moduleHash, module)
  }

  private async moduleBytes (hash: string): Promise<Uint8Array> {
    const bytes = await this.c.modules.get(hash)
    if (bytes === undefined) throw new ModuleNotCachedError(`module ${hash} is no longer cached; send its bytes`)
    return bytes
  }
}

/** With no input store, nothing is cached: every input file must come with its job. */
const NO_INPUT_STORE: Pick<InputStore, 'has' | 'get' | 'put' | 'sizeOf'> = {
  has: () => false,
  get: async () => undefined,
  put: async () => {},
  sizeOf: () => undefined
}

/** Output files in the receipt's order: by path, in UTF-16 code units (as RFC 8785 sorts keys). */
function sortedOutputs (files: ReadonlyArray<{ path: string, data: Uint8Array }>): OutputFile[] {
  return files.map(({ path, data }) => ({ path, data })).sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
}

/**
 * The receipt's optional members taken from the executor's answer, each present only when it
 * applies (so receipts of jobs without them keep their old shape): the output files (hash and
 * size), the trap reason (only with status trap) and the compile time of a cold module.
 */
function receiptExtras (response: { status: string, trap: string, compileTimeUs: bigint }, files: readonly OutputFile[]): Partial<UnsignedReceipt> {
  const extras: Partial<UnsignedReceipt> = {}
  const outputs: ReceiptOutput[] = files.map(({ path, data }) => ({ path, hash: contentHash(data), bytes: data.byteLength }))
  if (outputs.length > 0) extras.outputs = outputs
  if (response.status === 'trap' && response.trap !== '') extras.trap = response.trap as TrapReason
  if (response.compileTimeUs > 0n) extras.compile_time_us = Number(response.compileTimeUs)
  return extras
}
