/**
 * The wasmer runtime: `@wasmer/sdk` behind the `WasmRuntime` interface, contained in a pool of
 * runner processes (runner.ts), one job at a time each. The SDK cannot stop a runaway guest nor
 * bound its memory (FACTS.md), so the process is the unit of control:
 *
 * * wall time: at a job's deadline its runner is killed (SIGKILL) and a fresh one started;
 * * memory: modules are admitted as on V8 (admission.ts: one defined memory, its maximum rewritten
 *   cap. Behind that, each runner's RSS is sampled while it runs a job: past its RSS when the job
 *   began plus the job's cap plus `runnerSlackBytes` the runner is killed and the job ends
 *   `memory_limit`; its JS heap is capped with `--max-old-space-size`. The SDK keeps some memory of
 *   every sandbox (measured: +16 MiB per 100 jobs), so a runner whose RSS passed its boot RSS
 *   by `recycleBytes` is replaced between jobs;
 * * output: stdout + stderr capped together at the job's output cap (`output_limit`).
 *
 * What it does not do, refused with `runtime_unavailable` so another node can run the job: input
 * and output files (`/in`, `/out`), fuel and the deterministic profile (no metering), wasm GC
 * types (features.ts). A guest that
 * runs out of memory at the cap fails on its own (trap or exit) rather than `memory_limit`: the
 * SDK gives no way to read the rewriter's record of a refused grow. Exit codes are what the SDK
 * reports, as a POSIX process status would: the low 8 bits of a code below 2^31 (exit(256) is
 * ok), the low 16 of a code above; a guest that catches proc_exit's unwinding decides its own
 * outcome. Clocks are wasmer's (10 ms resolution), not this node's coarsened ones.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { CancelledError, InvalidModuleError, ModuleNotCachedError, QueueFullError, UnavailableError } from '@phase-network/protocol/errors'
import type { Logger } from '@phase-network/process'
import { admit } from '../admission.ts'
import { checkInputFiles } from '../wasi/inputs.ts'
import { refuseGcTypes, refuseUnsupported } from './features.ts'
import { CLOCK_TICKS, cpuTicks, kill, rss } from './proc.ts'
import { cappedLimits, type RuntimeStatus, type WasmJob, type WasmResult, type WasmRuntime, type WasmStatus } from '../runtime.ts'
import type { RunnerJob, RunnerMessage, RunnerResult } from './messages.ts'

export const WASMER_RUNTIME_NAME = 'wasmer'
export const DEFAULT_RUNNERS = 1
export const DEFAULT_QUEUE_CAPACITY = 256
export const DEFAULT_MAX_MODULE_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_MEMORY_BYTES = 256 * 1024 * 1024
export const DEFAULT_MAX_TIMEOUT_MS = 60_000
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024
/** Admitted module bytes kept by the runtime (and by each runner, as packages). */
export const DEFAULT_MODULE_CACHE_BYTES = 256 * 1024 * 1024
/** How often a running job's runner RSS is sampled (ms). */
export const DEFAULT_MEMORY_POLL_MS = 20
/** RSS a runner may gain during a job beyond the job's memory cap: the SDK's own workers and buffers. */
export const DEFAULT_RUNNER_SLACK_BYTES = 192 * 1024 * 1024
/** JS heap of a runner (`--max-old-space-size`), MiB: the SDK, its packages and one job's output. */
export const RUNNER_HEAP_MB = 256
/** RSS a runner may gain over its life before it is replaced between jobs. */
export const DEFAULT_RECYCLE_BYTES = 128 * 1024 * 1024
/** Characters of a runner's stderr kept to tell why it died. */
const STDERR_TAIL = 4096
/** What V8 and Node write when a heap (the process's or a worker's) reached its limit. */
const OUT_OF_HEAP = /heap limit|out of memory|ERR_WORKER_OUT_OF_MEMORY/i
/** Pause before replacing a runner that died while booting. */
const RESPAWN_DELAY_MS = 1000
/** How long a runner may take to boot the SDK before it counts as failed. */
const BOOT_MS = 60_000

export interface WasmerRuntimeInit {
  /** Runner processes. Default: 1. */
  runners?: number
  /** Jobs waiting for a runner before QueueFullError. Default: 256. */
  queueCapacity?: number
  /** Largest module accepted. Default: 64 MiB. */
  maxModuleBytes?: number
  /** Hard memory cap per job. Default: 256 MiB. */
  maxMemoryBytes?: number
  /** Hard wall-time cap per job. Default: 60 s. */
  maxTimeoutMs?: number
  /** Hard output cap per job. Default: 4 MiB. */
  maxOutputBytes?: number
  /** Admitted module bytes kept. Default: 256 MiB. */
  moduleCacheBytes?: number
  /** RSS sampling period while a job runs (ms, at least 1: it is the runner's hard memory limit). Default: 20. */
  memoryPollMs?: number
  /** RSS growth a job may cause beyond its memory cap. Default: 192 MiB. */
  runnerSlackBytes?: number
  /** RSS a runner may gain over its life (past its boot RSS) before it is replaced between jobs. Default: 128 MiB. */
  recycleBytes?: number
}

export interface WasmerRuntimeComponents {
  /** Runner crashes and their stderr are logged here. Default: none. */
  logger?: Pick<Logger, 'error' | 'warn'>
}

interface Pending {
  job: WasmJob
  key: string
  module: Uint8Array<ArrayBuffer>
  limits: { memoryBytes: number, timeoutMs: number, outputBytes: number }
  /** µs spent admitting the module, when this job did it. */
  admitUs?: number
  resolve: (r: WasmResult) => void
  reject: (e: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

interface Runner {
  child: ChildProcess
  ready: boolean
  /** Keys of the modules the parent believes this runner holds. */
  known: Set<string>
  /** RSS once booted (bytes). */
  idleRss: number
  /** The last STDERR_TAIL characters the runner wrote to stderr. */
  stderrTail: string
  job?: Pending & { id: number, timer: NodeJS.Timeout, monitor?: NodeJS.Timeout, startedAt: number, t0: number, cpuTicks: number, rssBase: number }
}

export class WasmerRuntime implements WasmRuntime {
  readonly name = WASMER_RUNTIME_NAME
  readonly version = `wasmer-sdk-${sdkVersion()}/node-${process.versions.node}`
  private readonly init: Required<WasmerRuntimeInit>
  private readonly log?: WasmerRuntimeComponents['logger']
  /** Admitted modules by key (hash and memory cap), least recently used first. */
  private readonly modules = new Map<string, Uint8Array<ArrayBuffer>>()
  private moduleBytes = 0
  private readonly queue: Pending[] = []
  private runners: Runner[] = []
  private nextId = 1
  private running = false
  private completed = 0

  constructor (init: WasmerRuntimeInit = {}, components: WasmerRuntimeComponents = {}) {
    this.log = components.logger
    this.init = {
      runners: init.runners ?? DEFAULT_RUNNERS,
      queueCapacity: init.queueCapacity ?? DEFAULT_QUEUE_CAPACITY,
      maxModuleBytes: init.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES,
      maxMemoryBytes: init.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES,
      maxTimeoutMs: init.maxTimeoutMs ?? DEFAULT_MAX_TIMEOUT_MS,
      maxOutputBytes: init.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      moduleCacheBytes: init.moduleCacheBytes ?? DEFAULT_MODULE_CACHE_BYTES,
      memoryPollMs: Math.max(1, init.memoryPollMs ?? DEFAULT_MEMORY_POLL_MS),
      runnerSlackBytes: init.runnerSlackBytes ?? DEFAULT_RUNNER_SLACK_BYTES,
      recycleBytes: init.recycleBytes ?? DEFAULT_RECYCLE_BYTES
    }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.runners = Array.from({ length: this.init.runners }, () => this.spawn())
    await Promise.all(this.runners.map(async (r) => await this.booted(r)))
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const p of this.queue.splice(0)) p.reject(new UnavailableError('executor is stopping'))
    await Promise.all(this.runners.map(async (r) => {
      const job = r.job
      this.release(r)
      job?.reject(new UnavailableError('executor is stopping'))
      await kill(r.child)
    }))
    this.runners = []
  }

  hasModule (hash: string): boolean {
    for (const key of this.modules.keys()) if (key.startsWith(`${hash}|`)) return true
    return false
  }

  status (): RuntimeStatus {
    return {
      workers: this.runners.filter((r) => r.ready).length,
      running: this.runners.filter((r) => r.job !== undefined).length,
      queued: this.queue.length,
      queueCapacity: this.init.queueCapacity,
      cachedModules: this.modules.size,
      completedJobs: this.completed
    }
  }

  async run (job: WasmJob, options: { signal?: AbortSignal } = {}): Promise<WasmResult> {
    if (!this.running) throw new UnavailableError('executor is not running')
    if (options.signal?.aborted === true) throw new CancelledError()
    refuseUnsupported(job)
    checkInputFiles(job.inputs ?? [])
    const limits = cappedLimits(job.limits, this.init)
    const key = `${job.moduleHash}|${limits.memoryBytes}`
    const t0 = performance.now()
    const { module, admitted } = this.admitted(job, key, limits.memoryBytes)
    const admitUs = admitted ? Math.round((performance.now() - t0) * 1000) : undefined
    if (this.queue.length >= this.init.queueCapacity) throw new QueueFullError('executor queue is full, retry later')
    return await new Promise<WasmResult>((resolve, reject) => {
      const pending: Pending = { job, key, module, limits, admitUs, resolve, reject, signal: options.signal }
      if (options.signal !== undefined) {
        pending.onAbort = () => this.abort(pending)
        options.signal.addEventListener('abort', pending.onAbort, { once: true })
      }
      this.queue.push(pending)
      this.dispatch()
    })
  }

  /** The module admitted for this memory cap: cached, or admitted now from the job's bytes. */
  private admitted (job: WasmJob, key: string, memoryBytes: number): { module: Uint8Array<ArrayBuffer>, admitted: boolean } {
    const hit = this.modules.get(key)
    if (hit !== undefined) {
      this.modules.delete(key)
      this.modules.set(key, hit)
      return { module: hit, admitted: false }
    }
    if (job.module === undefined || job.module.byteLength === 0) {
      throw new ModuleNotCachedError(this.hasModule(job.moduleHash)
        ? `module ${job.moduleHash} is cached with another memory cap; send its bytes`
        : `module ${job.moduleHash} is not cached on this executor`)
    }
    const module = admit(job.module, job.moduleHash, { maxModuleBytes: this.init.maxModuleBytes, memoryBytes }).bytes
    refuseGcTypes(module)
    this.modules.set(key, module)
    this.moduleBytes += module.byteLength
    for (const [k, m] of this.modules) {
      if (this.moduleBytes <= this.init.moduleCacheBytes || this.modules.size === 1) break
      this.modules.delete(k)
      this.moduleBytes -= m.byteLength
    }
    return { module, admitted: true }
  }

  private dispatch (): void {
    for (const runner of this.runners) {
      if (this.queue.length === 0) return
      if (!runner.ready || runner.job !== undefined) continue
      const p = this.queue.shift()!
      const id = this.nextId++
      runner.job = { ...p, id, timer: setTimeout(() => this.replace(runner, 'timeout', `wall-time limit of ${p.limits.timeoutMs} ms reached`), p.limits.timeoutMs), startedAt: Date.now(), t0: performance.now(), cpuTicks: cpuTicks(runner.child.pid), rssBase: rss(runner.child.pid) }
      runner.job.monitor = setInterval(() => this.sample(runner, id), this.init.memoryPollMs).unref()
      this.send(runner, false)
    }
  }

  /** Sends the runner its job, with the module when it may not hold it (or when it said so). */
  private send (runner: Runner, withModule: boolean): void {
    const p = runner.job!
    const msg: RunnerJob = {
      kind: 'run',
      id: p.id,
      key: p.key,
      ...(withModule || !runner.known.has(p.key) ? { module: p.module } : {}),
      args: p.job.args,
      env: p.job.env,
      stdin: p.job.stdin,
      outputBytes: p.limits.outputBytes
    }
    runner.known.add(p.key)
    runner.child.send(msg)
  }

  private spawn (): Runner {
    const child = fork(new URL('./runner.ts', import.meta.url), [], {
      execArgv: [`--max-old-space-size=${RUNNER_HEAP_MB}`, '--disable-warning=ExperimentalWarning'],
      // Nothing of the executor's environment (config, tokens) reaches the process that runs guests.
      env: { PHASE_WASMER_CACHE_BYTES: String(this.init.moduleCacheBytes) },
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc']
    })
    const runner: Runner = { child, ready: false, known: new Set(), idleRss: 0, stderrTail: '' }
    // The runner's stderr is the SDK's complaints: kept short in the log, never sent to a client;
    // its tail says why a runner died.
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8', 0, Math.min(chunk.byteLength, STDERR_TAIL))
      runner.stderrTail = (runner.stderrTail + text).slice(-STDERR_TAIL)
      this.log?.warn({ pid: child.pid, stderr: text.slice(0, 500) }, 'wasmer runner stderr')
    })
    child.on('message', (msg: RunnerMessage) => this.onMessage(runner, msg))
    // 'close', not 'exit': the stderr read to its end tells a runner that ran out of heap.
    child.on('close', (code, signal) => {
      if (!this.running || !this.runners.includes(runner)) return
      this.log?.error({ exitCode: code, signal, job: runner.job?.job.jobId }, 'wasmer runner exited unexpectedly')
      if (OUT_OF_HEAP.test(runner.stderrTail)) this.replace(runner, 'memory_limit', `the runtime process reached its heap limit of ${RUNNER_HEAP_MB} MiB`)
      else if (runner.ready) this.replace(runner, 'trap', 'runtime process exited')
      // Died while booting (the SDK cannot start here): retried after a pause, not in a loop.
      else setTimeout(() => this.replace(runner, 'trap', 'runtime process exited'), RESPAWN_DELAY_MS).unref()
    })
    child.on('error', (err) => this.log?.error({ err }, 'wasmer runner failed'))
    return runner
  }

  private async booted (runner: Runner): Promise<void> {
    if (runner.ready) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new UnavailableError('wasmer runner did not start in time')), BOOT_MS)
      const done = (): void => { clearTimeout(timer); runner.child.off('message', onMessage); runner.child.off('exit', onExit); resolve() }
      const onMessage = (m: RunnerMessage): void => { if (m.kind === 'ready') done() }
      const onExit = (): void => { clearTimeout(timer); reject(new UnavailableError('wasmer runner exited while starting')) }
      runner.child.on('message', onMessage)
      runner.child.once('exit', onExit)
    })
  }

  private onMessage (runner: Runner, msg: RunnerMessage): void {
    if (msg.kind === 'ready') {
      runner.ready = true
      runner.idleRss = rss(runner.child.pid)
      this.dispatch()
      return
    }
    const job = runner.job
    if (job === undefined || job.id !== msg.id) return
    if (msg.kind === 'missing') { this.send(runner, true); return }
    this.release(runner)
    if (msg.kind === 'refused') {
      runner.known.delete(job.key)
      this.evict(job.key)
      this.finish(job, undefined, new InvalidModuleError(msg.message))
    } else {
      this.finish(job, resultOf(msg, job.admitUs))
      if (!msg.clean || rss(runner.child.pid) > runner.idleRss + this.init.recycleBytes) { this.retire(runner); return }
    }
    this.dispatch()
  }

  /** Kills the runner if its RSS passed the job's bound: its RSS when the job began + the job's memory cap + slack. */
  private sample (runner: Runner, id: number): void {
    const job = runner.job
    if (job === undefined || job.id !== id) return
    const bound = job.rssBase + job.limits.memoryBytes + this.init.runnerSlackBytes
    if (rss(runner.child.pid) > bound) this.replace(runner, 'memory_limit', `the runtime process passed its memory bound of ${bound} bytes (job cap ${job.limits.memoryBytes})`)
  }

  private release (runner: Runner): void {
    if (runner.job === undefined) return
    clearTimeout(runner.job.timer)
    clearInterval(runner.job.monitor)
    runner.job = undefined
  }

  private evict (key: string): void {
    const m = this.modules.get(key)
    if (m === undefined) return
    this.modules.delete(key)
    this.moduleBytes -= m.byteLength
  }

  /** Ends the runner's job with `status` (its CPU time read before the kill), kills it, starts another. */
  private replace (runner: Runner, status: WasmStatus, detail: string): void {
    const job = runner.job
    const cpu = job === undefined ? 0 : Math.max(0, cpuTicks(runner.child.pid) - job.cpuTicks) * (1_000_000 / CLOCK_TICKS)
    const wallTimeUs = job === undefined ? 0 : Math.round((performance.now() - job.t0) * 1000)
    this.release(runner)
    if (!this.retire(runner)) return
    if (job === undefined) return
    this.finish(job, {
      status,
      exitCode: -1,
      stdout: new Uint8Array(),
      stderr: new Uint8Array(),
      outputs: [],
      ...(status === 'trap' ? { trap: 'other' } : {}),
      ...(job.admitUs !== undefined ? { compileTimeUs: job.admitUs } : {}),
      wallTimeUs,
      cpuTimeUs: cpu,
      startedAt: new Date(job.startedAt).toISOString(),
      finishedAt: new Date().toISOString(),
      detail
    })
  }

  /** Kills a runner and puts a fresh one in its place; false when it was no longer in the pool. */
  private retire (runner: Runner): boolean {
    const index = this.runners.indexOf(runner)
    if (index === -1) return false
    runner.child.removeAllListeners('close')
    runner.child.removeAllListeners('message')
    void kill(runner.child)
    if (!this.running) { this.runners.splice(index, 1); return true }
    const fresh = this.spawn()
    this.runners[index] = fresh
    this.booted(fresh).catch((err: unknown) => this.log?.error({ err }, 'wasmer runner did not start'))
    return true
  }

  private finish (job: Pending, result: WasmResult | undefined, error?: unknown): void {
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    if (result !== undefined) { this.completed++; job.resolve(result) } else job.reject(error)
  }

  private abort (p: Pending): void {
    const i = this.queue.indexOf(p)
    if (i !== -1) {
      this.queue.splice(i, 1)
      p.reject(new CancelledError('job cancelled'))
      return
    }
    const runner = this.runners.find((r) => r.job?.resolve === p.resolve)
    if (runner === undefined) return
    this.release(runner)
    this.retire(runner)
    p.reject(new CancelledError('job cancelled'))
    this.dispatch()
  }
}

function resultOf (msg: RunnerResult, admitUs: number | undefined): WasmResult {
  const compile = (admitUs ?? 0) + (msg.compileTimeUs ?? 0)
  return {
    status: msg.status,
    exitCode: msg.exitCode,
    stdout: msg.stdout,
    stderr: msg.stderr,
    outputs: [],
    ...(msg.trap !== undefined ? { trap: msg.trap } : {}),
    ...(admitUs !== undefined || msg.compileTimeUs !== undefined ? { compileTimeUs: compile } : {}),
    wallTimeUs: msg.wallTimeUs,
    cpuTimeUs: msg.cpuTimeUs,
    startedAt: new Date(msg.startedAt).toISOString(),
    finishedAt: new Date(msg.finishedAt).toISOString(),
    detail: msg.detail
  }
}

function sdkVersion (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve('@wasmer/sdk/node')), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

export function createWasmerRuntime (init: WasmerRuntimeInit = {}, components: WasmerRuntimeComponents = {}): WasmRuntime {
  return new WasmerRuntime(init, components)
}
