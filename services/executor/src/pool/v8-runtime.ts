/**
 * The V8 runtime: WebAssembly compiled once per module hash (cached, LRU: module-cache.ts) and run
 * in a pool of worker threads (thread-host.ts). A bounded queue gives back-pressure. Each worker
 * lives in a slot whose states and transitions are slots.ts's: a job past its wall-time limit, or
 * cancelled, or past its memory cap, is stopped by terminating its worker (~2 ms), which the slot
 * then replaces; a worker that dies unasked is replaced after a back-off.
 *
 * Memory: linear memory and tables are capped per job by admission (rewritten maxima). Every
 * other object a guest can put on its worker's V8 heap (wasm GC structs, exceptions) counts
 * against the job's memory cap too: while a job runs, its worker's heap is sampled every
 * `heapPollMs`, and growth past the job's cap (plus the young generation, where garbage waits
 * for a scavenge) ends it `memory_limit`. Behind that, the worker's hard heap limit
 * (`resourceLimits`, from the node's cap) makes V8 end the worker with ERR_WORKER_OUT_OF_MEMORY,
 * which also ends the job `memory_limit`; the worker is replaced, the executor process carries on.
 *
 * Before compiling, each module is rewritten (module-cache.ts): memory.grow through a function
 * that records a refusal by the cap (the worker reports memory_limit exactly then), and fuel
 * charges and canonical NaNs in the variants that need them.
 *
 * Liftoff is turned off (`--no-liftoff`) before anything is compiled: with V8's tiering from
 * Liftoff, a wasm loop that allocates on the heap ignores termination requests (the heap limit's
 * and the wall-time kill) for tens of seconds while its heap grows far past the limit. With
 * TurboFan only, both take effect at once. It is also what the compute benchmarks use.
 *
 * Lazy compilation is turned off too (`--no-wasm-lazy-compilation`): with it, V8 compiles each
 * function on its first call, i.e. inside the first job's run on this executor, which then
 * reported the compile as guest wall time (287 ms of a 1 ms C program's first run). Compiled
 * eagerly, the whole module is compiled before the job is dispatched, and that time is reported
 * apart as `compileTimeUs` (to the job that compiled it), never in `wallTimeUs`.
 */
import { setFlagsFromString } from 'node:v8'
import { getCompileCacheDir, stripTypeScriptTypes } from 'node:module'
import { accessSync, constants as fsConstants } from 'node:fs'
import { CancelledError, InvalidArgumentError, InvalidModuleError, QueueFullError, UnavailableError } from '@phase-network/protocol/errors'
import { checkInputFiles } from '../wasi/inputs.ts'
import type { RunMessage, ResultMessage, IdleMessage } from '../worker.ts'
import { cappedLimits, type RuntimeStatus, type WasmJob, type WasmResult, type WasmRuntime, type WasmStatus } from '../runtime.ts'
import {
  DEFAULT_BOOT_TIMEOUT_MS, DEFAULT_HEAP_POLL_MS, DEFAULT_MAX_FUEL, DEFAULT_MAX_MEMORY_BYTES, DEFAULT_MAX_MODULE_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_RESPAWN_DELAY_MS, DEFAULT_MAX_TIMEOUT_MS, DEFAULT_MODULE_CACHE_BYTES,
  DEFAULT_MODULE_CACHE_SIZE, DEFAULT_QUEUE_CAPACITY, DEFAULT_RESPAWN_DELAY_MS, DEFAULT_WORKERS, WORKER_YOUNG_GENERATION_MB,
  type V8RuntimeComponents, type V8RuntimeInit
} from '../pool.ts'
import { ModuleCache, type Compiled, type Variant } from './module-cache.ts'
import { Slots } from './slots.ts'
import type { HostEvents, HostRef, JobEnd } from './host.ts'
import { spawnThread, threadCpu, WORKER_SCRIPT, type ThreadHost } from './thread-host.ts'

const MiB = 1024 * 1024
const US_PER_MS = 1000
/** The exit code of a job that did not exit (WasmResult.exitCode): it was killed. */
const NOT_EXITED = -1

/** Why the runtime itself kills a job's worker: a limit it enforces (an outcome), or the caller's cancel. */
type Kill = { status: WasmStatus, detail: string } | { status: 'cancelled' }

/** A job from `run()` to its outcome: queued, then on a slot. */
interface Job {
  /** Unique in this runtime: names the job to its slot, its worker's messages and its samples. */
  readonly id: number
  readonly job: WasmJob
  readonly compiled: Compiled
  /** µs this job spent admitting and compiling its module (absent on a cache hit). */
  readonly compileTimeUs: number | undefined
  readonly limits: WasmJob['limits']
  readonly resolve: (r: WasmResult) => void
  readonly reject: (e: unknown) => void
  readonly signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  /** It has its outcome (its worker may still be leaving the guest's code). */
  settled: boolean
  /** Its slot and worker, once dispatched. */
  ref: HostRef | undefined
  startedAt: number
  t0: number
  /** Its worker thread's CPU time (µs) at dispatch: the base of its CPU time if it is killed. */
  cpuBaseUs: number
  /** Samples while it runs: its thread's CPU time, the lowest heap use seen, a sample under way. */
  cpuSeenUs: number
  heapLow: number
  sampling: boolean
  monitor: NodeJS.Timeout | undefined
}

export class V8Runtime implements WasmRuntime {
  readonly name = 'v8-wasm'
  readonly version = `node-${process.versions.node}/v8-${process.versions.v8}`
  private readonly init: Required<V8RuntimeInit>
  private readonly modules: ModuleCache
  private readonly queue: Job[] = []
  private slots?: Slots<ThreadHost, Job, Kill>
  private nextId = 1
  private running = false
  private completed = 0
  private readonly log?: V8RuntimeComponents['logger']
  private readonly workerScript: URL

  constructor (init: V8RuntimeInit = {}, components: V8RuntimeComponents = {}) {
    this.log = components.logger
    this.workerScript = components.workerScript ?? WORKER_SCRIPT
    this.init = {
      workers: init.workers ?? DEFAULT_WORKERS,
      queueCapacity: init.queueCapacity ?? DEFAULT_QUEUE_CAPACITY,
      maxModuleBytes: init.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES,
      maxMemoryBytes: init.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES,
      maxTimeoutMs: init.maxTimeoutMs ?? DEFAULT_MAX_TIMEOUT_MS,
      maxOutputBytes: init.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      moduleCacheSize: init.moduleCacheSize ?? DEFAULT_MODULE_CACHE_SIZE,
      heapPollMs: init.heapPollMs ?? DEFAULT_HEAP_POLL_MS,
      moduleCacheBytes: init.moduleCacheBytes ?? DEFAULT_MODULE_CACHE_BYTES,
      maxFuel: init.maxFuel ?? DEFAULT_MAX_FUEL,
      bootTimeoutMs: init.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS,
      respawnDelayMs: init.respawnDelayMs ?? DEFAULT_RESPAWN_DELAY_MS,
      maxRespawnDelayMs: init.maxRespawnDelayMs ?? DEFAULT_MAX_RESPAWN_DELAY_MS
    }
    this.modules = new ModuleCache(this.init)
  }

  /** Boots every worker; fails with a WorkerBootError (and stops) when one does not boot in time. */
  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    // See the file comment: before any module is compiled, process-wide (workers share it).
    if (!readsFilledCompileCache()) warmTypeStripping()
    setFlagsFromString('--no-liftoff')
    setFlagsFromString('--no-wasm-lazy-compilation')
    const slots = new Slots<ThreadHost, Job, Kill>({
      size: this.init.workers,
      bootTimeoutMs: this.init.bootTimeoutMs,
      respawnDelayMs: this.init.respawnDelayMs,
      maxRespawnDelayMs: this.init.maxRespawnDelayMs
    }, {
      spawn: (ref, events) => this.spawn(ref, events),
      end: async (job, how, host) => await this.end(job, how, host),
      idle: () => this.dispatch(),
      ...(this.log === undefined ? {} : { logger: this.log })
    })
    this.slots = slots
    try {
      await slots.start()
    } catch (err) {
      this.running = false
      for (const p of this.queue.splice(0)) this.fail(p, new UnavailableError('executor failed to start'))
      throw err
    }
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const p of this.queue.splice(0)) this.fail(p, new UnavailableError('executor is stopping'))
    await this.slots?.stop()
  }

  hasModule (hash: string): boolean {
    return this.modules.has(hash)
  }

  status (): RuntimeStatus {
    return {
      workers: this.slots?.ready() ?? 0,
      running: this.slots?.count('busy') ?? 0,
      queued: this.queue.length,
      queueCapacity: this.init.queueCapacity,
      cachedModules: this.modules.size,
      completedJobs: this.completed
    }
  }

  async run (job: WasmJob, options: { signal?: AbortSignal } = {}): Promise<WasmResult> {
    if (!this.running) throw new UnavailableError('executor is not running')
    if (options.signal?.aborted === true) throw new CancelledError()
    checkInputFiles(job.inputs ?? [])
    // Server-side caps always win over what the job asks.
    const limits = { ...cappedLimits(job.limits, this.init), fuel: fuelOf(job, this.init.maxFuel) }
    const variant: Variant = job.profile === 'deterministic' ? 'deterministic' : limits.fuel !== undefined ? 'metered' : 'plain'
    const t0 = performance.now()
    const cached = this.modules.hit(job.moduleHash, variant, limits.memoryBytes)
    // Refused before any compiling when it could not be queued anyway.
    if (!cached) this.refuseIfFull()
    const compiled = await this.modules.compiled(job, limits.memoryBytes, variant, options.signal)
    // Compiling a big module takes seconds: the executor may have been stopped meanwhile.
    if (!this.running) throw new UnavailableError('executor is stopping')
    const compileTimeUs = cached ? undefined : Math.round((performance.now() - t0) * US_PER_MS)
    if (variant === 'deterministic' && compiled.relaxedSimd) {
      throw new InvalidModuleError('module uses relaxed SIMD, whose results differ between CPUs: not allowed in the deterministic profile')
    }
    if (variant === 'deterministic' && compiled.floatSimd) {
      throw new InvalidModuleError('module uses SIMD float arithmetic, whose NaN bits differ between CPUs: not allowed in the deterministic profile')
    }
    // Compiling takes a while: the caller may have given up meanwhile.
    if (isAborted(options.signal)) throw new CancelledError()
    this.refuseIfFull()
    return await new Promise<WasmResult>((resolve, reject) => {
      const p: Job = {
        id: this.nextId++,
        job,
        compiled,
        compileTimeUs,
        limits,
        resolve,
        reject,
        signal: options.signal,
        onAbort: undefined,
        settled: false,
        ref: undefined,
        startedAt: 0,
        t0: 0,
        cpuBaseUs: 0,
        cpuSeenUs: 0,
        heapLow: Infinity,
        sampling: false,
        monitor: undefined
      }
      if (options.signal !== undefined) {
        p.onAbort = () => this.abort(p)
        options.signal.addEventListener('abort', p.onAbort, { once: true })
      }
      this.queue.push(p)
      this.dispatch()
    })
  }

  private refuseIfFull (): void {
    if (this.queue.length >= this.init.queueCapacity) throw new QueueFullError('executor queue is full, retry later')
  }

  /** Gives queued jobs to idle slots. */
  private dispatch (): void {
    const slots = this.slots
    if (slots === undefined) return
    while (this.queue.length > 0) {
      const slot = slots.idleSlot()
      if (slot === undefined) return
      const host = slots.host(slot)!
      const p = this.queue.shift()!
      p.ref = slots.ref(slot)
      p.startedAt = Date.now()
      p.t0 = performance.now()
      p.cpuBaseUs = host.threadCpuUs
      p.cpuSeenUs = host.threadCpuUs
      slots.assign(slot, p, p.limits.timeoutMs)
      if (this.init.heapPollMs > 0) p.monitor = setInterval(() => this.sample(p), this.init.heapPollMs).unref()
      const msg: RunMessage = {
        id: p.id,
        jobId: p.job.jobId,
        profile: p.job.profile ?? 'default',
        fuel: p.limits.fuel,
        module: p.compiled.module,
        imports: p.compiled.imports,
        args: p.job.args,
        env: p.job.env,
        stdin: p.job.stdin,
        inputs: p.job.inputs ?? [],
        outputBytes: p.limits.outputBytes,
        memoryBytes: p.compiled.memoryBytes,
        linearMaxBytes: p.compiled.linearMaxBytes
      }
      host.worker.postMessage(msg)
    }
  }

  /** A slot's new worker thread; its crashes are logged (a heap cap reached by a guest is not news). */
  private spawn (ref: HostRef, events: HostEvents): ThreadHost {
    return spawnThread({ script: this.workerScript, maxMemoryBytes: this.init.maxMemoryBytes }, {
      ready: events.ready,
      message: (msg) => this.message(ref, msg),
      died: (death) => {
        const job = this.slots?.job(ref)
        if (events.died(death) && death.guest !== true) {
          this.log?.error({ err: death.error, exitCode: death.exitCode, slot: ref.slot, job: job?.job.jobId }, `executor ${death.detail}`)
        }
      }
    })
  }

  /** A job's result (then busy → draining, unless the worker is free again) or its worker's idle. */
  private message (ref: HostRef, msg: ResultMessage | IdleMessage): void {
    const slots = this.slots!
    const job = slots.job(ref)
    if (job === undefined || job.id !== msg.id) return
    if (msg.kind === 'result') this.settle(job, resultOf(msg, job.compileTimeUs))
    if (msg.kind === 'idle' || msg.idle) slots.release(ref.slot, job.id)
    else slots.settled(ref.slot, job.id)
  }

  /**
   * The outcome of a job whose worker goes before it finished (the slots' `end`): read the
   * thread's CPU time while it is still there, then give the job its status.
   */
  private async end (job: Job, how: JobEnd<Kill>, host: ThreadHost): Promise<void> {
    if (job.settled) return
    if (how.kind === 'stopped') { this.fail(job, new UnavailableError('executor is stopping')); return }
    if (how.kind === 'replaced' && how.reason.status === 'cancelled') { this.fail(job, new CancelledError('job cancelled')); return }
    clearInterval(job.monitor)
    const finishedAt = Date.now()
    const wallTimeUs = Math.round((performance.now() - job.t0) * US_PER_MS)
    const { status, detail } = this.outcome(job, how)
    const cpu = await threadCpu(host.worker, job.cpuSeenUs)
    this.settle(job, {
      status,
      exitCode: NOT_EXITED,
      stdout: new Uint8Array(),
      stderr: new Uint8Array(),
      outputs: [],
      ...(status === 'trap' ? { trap: 'other' } : {}),
      ...(job.compileTimeUs !== undefined ? { compileTimeUs: job.compileTimeUs } : {}),
      wallTimeUs,
      cpuTimeUs: Math.max(0, cpu - job.cpuBaseUs),
      startedAt: new Date(job.startedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      detail
    })
  }

  private outcome (job: Job, how: Exclude<JobEnd<Kill>, { kind: 'stopped' }>): { status: WasmStatus, detail: string } {
    switch (how.kind) {
      case 'deadline': return { status: 'timeout', detail: `wall-time limit of ${job.limits.timeoutMs} ms reached` }
      case 'replaced': return how.reason.status === 'cancelled' ? { status: 'trap', detail: 'cancelled' } : how.reason
      case 'died': return how.death.guest === true
        ? { status: 'memory_limit', detail: `heap objects passed the worker's heap cap of ${this.init.maxMemoryBytes} bytes` }
        : { status: 'trap', detail: how.death.detail }
    }
  }

  /** Gives a job its result (once); its worker may still be leaving the guest's code. */
  private settle (job: Job, result: WasmResult): void {
    if (job.settled) return
    this.finish(job)
    this.completed++
    job.resolve(result)
  }

  /** Ends a job with an error (once). */
  private fail (job: Job, err: Error): void {
    if (job.settled) return
    this.finish(job)
    job.reject(err)
  }

  private finish (job: Job): void {
    job.settled = true
    clearInterval(job.monitor)
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
  }

  /**
   * One sample of a running job: its thread's CPU time (reported if the worker dies) and its
   * heap. Growth is measured from the lowest use seen during the job (garbage of the job
   * before is collected on the way), so it counts what this job keeps alive.
   */
  private sample (job: Job): void {
    const slots = this.slots
    if (job.sampling || job.ref === undefined || slots === undefined) return
    const ref = job.ref
    const current = (): boolean => !job.settled && slots.job(ref) === job
    const host = slots.host(ref.slot)
    if (!current() || host === undefined) return
    job.sampling = true
    const worker = host.worker
    void Promise.all([
      worker.cpuUsage().then((u) => { if (current()) job.cpuSeenUs = u.user + u.system }, () => {}),
      worker.getHeapStatistics().then((h) => {
        if (!current()) return
        job.heapLow = Math.min(job.heapLow, h.used_heap_size)
        const cap = job.compiled.memoryBytes
        if (h.used_heap_size - job.heapLow > cap + WORKER_YOUNG_GENERATION_MB * MiB) {
          slots.replace(ref.slot, job.id, { status: 'memory_limit', detail: `heap objects passed the job's memory cap of ${cap} bytes` })
        }
      }, () => {})
    ]).finally(() => { job.sampling = false })
  }

  /** The caller gave up: a queued job leaves the queue; a running one ends with its worker (replaced). */
  private abort (job: Job): void {
    if (job.settled) return
    if (job.ref === undefined) {
      const i = this.queue.indexOf(job)
      if (i !== -1) this.queue.splice(i, 1)
      this.fail(job, new CancelledError('job cancelled'))
      return
    }
    this.slots?.replace(job.ref.slot, job.id, { status: 'cancelled' })
  }
}

/**
 * Workers load worker.ts through Node's type stripping, itself a wasm module (amaro). Where this
 * process has not stripped types yet (a host that transforms TS itself, e.g. jest), it is
 * compiled here, lazily, before lazy compilation is turned off: every worker then reuses it from
 * V8's process-wide module cache instead of compiling all of it with TurboFan (20 s of a worker's
 * start on a loaded machine). The API's one-time ExperimentalWarning is not news to an operator.
 */
function warmTypeStripping (): void {
  const emitWarning = process.emitWarning
  process.emitWarning = () => {}
  try {
    stripTypeScriptTypes('')
  } finally {
    process.emitWarning = emitWarning
  }
}

/**
 * True when this process reads a compile cache it may not write: the executors' cache filled by
 * root (ops/compile-cache.ts), which holds worker.ts and all it imports, so no worker strips
 * types and the stripper need not be warmed (issue 11: ~0.2-0.4 s of each executor's start on a
 * loaded 2-core machine, and the transpiler's ~16 MiB). A writable cache (a development start,
 * a first start filling it) may miss: then warm as before.
 */
function readsFilledCompileCache (): boolean {
  const dir = getCompileCacheDir()
  if (dir === undefined) return false
  try {
    accessSync(dir, fsConstants.W_OK)
    return false
  } catch {
    return true
  }
}

const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

function resultOf (msg: ResultMessage, compileTimeUs: number | undefined): WasmResult {
  return {
    status: msg.status,
    exitCode: msg.exitCode,
    stdout: msg.stdout,
    stderr: msg.stderr,
    outputs: msg.outputs,
    ...(msg.trap !== undefined ? { trap: msg.trap } : {}),
    ...(compileTimeUs !== undefined ? { compileTimeUs } : {}),
    wallTimeUs: msg.wallTimeUs,
    cpuTimeUs: msg.cpuTimeUs,
    startedAt: new Date(msg.startedAt).toISOString(),
    finishedAt: new Date(msg.finishedAt).toISOString(),
    detail: msg.detail,
    ...(msg.fuelUsed === undefined ? {} : { fuelUsed: msg.fuelUsed })
  }
}

/** The fuel a job runs with: what it asks, at most the cap; the cap for a deterministic job that asks none. */
function fuelOf (job: WasmJob, cap: bigint): bigint | undefined {
  const asked = job.limits.fuel ?? (job.profile === 'deterministic' ? cap : undefined)
  if (asked === undefined) return undefined
  if (asked < 1n) throw new InvalidArgumentError('limits.fuel must be at least 1')
  return asked < cap ? asked : cap
}

export function createV8Runtime (init: V8RuntimeInit = {}, components: V8RuntimeComponents = {}): WasmRuntime {
  return new V8Runtime(init, components)
}
