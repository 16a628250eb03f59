/**
 * The V8 runtime: WebAssembly compiled once per module hash (cached, LRU) and run in a pool of
 * worker threads. A bounded queue gives back-pressure; a job past its wall-time limit is
 * stopped by terminating its worker (~2 ms), which is then replaced.
 *
 * Memory: linear memory and tables are capped per job by admission (rewritten maxima). Every
 * other object a guest can put on its worker's V8 heap (wasm GC structs, exceptions) counts
 * against the job's memory cap too: while a job runs, its worker's heap is sampled every
 * `heapPollMs`, and growth past the job's cap (plus the young generation, where garbage waits
 * for a scavenge) ends it `memory_limit`. Behind that, the worker's hard heap limit
 * (`resourceLimits`, from the node's cap) makes V8 end the worker with ERR_WORKER_OUT_OF_MEMORY,
 * which also ends the job `memory_limit`; the worker is replaced, the executor process carries on.
 *
 * Before compiling, each module is rewritten (rewrite/rewrite.ts): memory.grow through a function
 * that records a refusal by the cap (the worker reports memory_limit exactly then), and, in the
 * metered variant, fuel charges; the deterministic variant also canonicalizes NaNs where their bits
 * become visible. A module is compiled per variant it is asked in (plain, metered, deterministic),
 * each cached under its hash, variant and REWRITE_VERSION; the cache is bounded by entries and by
 * the bytes of the rewritten modules.
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
import { Worker } from 'node:worker_threads'
import { setFlagsFromString } from 'node:v8'
import { getCompileCacheDir, stripTypeScriptTypes } from 'node:module'
import { accessSync, constants as fsConstants } from 'node:fs'
import { CancelledError, InvalidArgumentError, InvalidModuleError, ModuleNotCachedError, QueueFullError, UnavailableError } from '@phase-network/protocol'
import type { Logger } from '@phase-network/process'
import { DEFAULT_MAX_FUEL as CONFIG_DEFAULT_MAX_FUEL } from '@phase-network/process'
import { admit, PAGE_BYTES, WASI_MODULE } from './admission.ts'
import { checkInputFiles } from './wasi/inputs.ts'
import { rewriteModule, REWRITE_VERSION } from './rewrite/rewrite.ts'
import type { RunMessage, ResultMessage, WorkerMessage } from './worker.ts'
import type { RuntimeStatus, WasmJob, WasmResult, WasmRuntime, WasmStatus } from './runtime.ts'

export const DEFAULT_WORKERS = 1
export const DEFAULT_QUEUE_CAPACITY = 256
export const DEFAULT_MAX_MODULE_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_MEMORY_BYTES = 256 * 1024 * 1024
export const DEFAULT_MAX_TIMEOUT_MS = 60_000
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024
export const DEFAULT_MODULE_CACHE_SIZE = 128
/** Bytes of rewritten modules the compiled-module cache may hold (their compiled code is about as big again). */
export const DEFAULT_MODULE_CACHE_BYTES = 512 * 1024 * 1024
/** Fuel a job may use, whatever it asks, and what a deterministic job that names none runs with (config.ts). */
export const DEFAULT_MAX_FUEL = BigInt(CONFIG_DEFAULT_MAX_FUEL)
/** Heap a worker needs beyond the node's memory cap: its own runtime (~5 MiB) and tables (≤ 8 MiB). */
export const WORKER_HEAP_OVERHEAD_MB = 48
/** Young generation of a worker's heap. */
export const WORKER_YOUNG_GENERATION_MB = 16
/** How long to wait for a killed worker's CPU time before reporting the last one known. */
const CPU_QUERY_MS = 50
/** How often a running job's heap and CPU time are sampled. */
export const DEFAULT_HEAP_POLL_MS = 20

export interface V8RuntimeInit {
  /** Worker threads. Default: 1. */
  workers?: number
  /** Jobs waiting for a worker before QueueFullError. Default: 256. */
  queueCapacity?: number
  /** Largest module accepted. Default: 64 MiB. */
  maxModuleBytes?: number
  /** Hard memory cap per job, whatever a job asks. Default: 256 MiB. */
  maxMemoryBytes?: number
  /** Hard wall-time cap per job. Default: 60 s. */
  maxTimeoutMs?: number
  /** Hard output cap per job. Default: 4 MiB. */
  maxOutputBytes?: number
  /** Compiled modules kept. Default: 128. */
  moduleCacheSize?: number
  /** Sampling period of a running job's heap (ms); 0 leaves only the worker's hard heap limit. Default: 20. */
  heapPollMs?: number
  /** Bytes of rewritten modules the cache holds. Default: 512 MiB. */
  moduleCacheBytes?: number
  /** Fuel cap per job, and a deterministic job's fuel when it names none. Default: 10^12. */
  maxFuel?: bigint
}

export interface V8RuntimeComponents {
  /** Internal failures (a worker crash and its cause) are logged here. Default: none. */
  logger?: Pick<Logger, 'error' | 'warn'>
}

interface Compiled {
  module: WebAssembly.Module
  /** Size of the rewritten module (what the cache's byte bound counts). */
  bytes: number
  /** The module uses relaxed SIMD (refused in the deterministic profile). */
  relaxedSimd: boolean
  /** The module uses SIMD float operations that make NaNs (refused in the deterministic profile). */
  floatSimd: boolean
  imports: string[]
  /** The memory cap the module's maxima were rewritten for. */
  memoryBytes: number
  /** The most linear memory it can have (the cap less its tables). */
  linearMaxBytes: number
}

interface Pending {
  job: WasmJob
  compiled: Compiled
  /** µs this job spent admitting and compiling its module (absent on a cache hit). */
  compileTimeUs?: number
  limits: WasmJob['limits']
  resolve: (r: WasmResult) => void
  reject: (e: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

interface Slot {
  worker: Worker
  ready: boolean
  /** The worker thread's CPU time (µs) when it last said so: the base of a killed job's. */
  threadCpuUs: number
  /** The running job's samples: its thread's CPU time, the lowest heap use seen, a sample under way. */
  cpuSeenUs: number
  heapLow: number
  sampling: boolean
  monitor?: NodeJS.Timeout
  /** `settled`: the result went out (proc_exit, output cap) and the guest has not yet left. */
  job?: Pending & { id: number, timer: NodeJS.Timeout, startedAt: number, t0: number, settled: boolean }
}

export class V8Runtime implements WasmRuntime {
  readonly name = 'v8-wasm'
  readonly version = `node-${process.versions.node}/v8-${process.versions.v8}`
  private readonly init: Required<V8RuntimeInit>
  /** Compiled modules by `cacheKey` (hash, variant, rewrite version), least recently used first. */
  private readonly cache = new Map<string, Compiled>()
  private cacheBytes = 0
  private readonly queue: Pending[] = []
  private slots: Slot[] = []
  private nextId = 1
  private running = false
  private completed = 0
  private readonly log?: V8RuntimeComponents['logger']

  constructor (init: V8RuntimeInit = {}, components: V8RuntimeComponents = {}) {
    this.log = components.logger
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
      maxFuel: init.maxFuel ?? DEFAULT_MAX_FUEL
    }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    // See the file comment: before any module is compiled, process-wide (workers share it).
    if (!readsFilledCompileCache()) warmTypeStripping()
    setFlagsFromString('--no-liftoff')
    setFlagsFromString('--no-wasm-lazy-compilation')
    this.slots = Array.from({ length: this.init.workers }, () => this.spawn())
    await Promise.all(this.slots.map(async (s) => await new Promise<void>((resolve) => {
      if (s.ready) resolve()
      else s.worker.once('message', () => resolve())
    })))
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const p of this.queue.splice(0)) p.reject(new UnavailableError('executor is stopping'))
    await Promise.all(this.slots.map(async (s) => {
      if (s.job !== undefined) { clearTimeout(s.job.timer); if (!s.job.settled) s.job.reject(new UnavailableError('executor is stopping')) }
      await s.worker.terminate()
    }))
    this.slots = []
  }

  hasModule (hash: string): boolean {
    return VARIANTS.some((v) => this.cache.has(cacheKey(hash, v)))
  }

  status (): RuntimeStatus {
    return {
      workers: this.slots.filter((s) => s.ready).length,
      running: this.slots.filter((s) => s.job !== undefined && !s.job.settled).length,
      queued: this.queue.length,
      queueCapacity: this.init.queueCapacity,
      cachedModules: this.cache.size,
      completedJobs: this.completed
    }
  }

  async run (job: WasmJob, options: { signal?: AbortSignal } = {}): Promise<WasmResult> {
    if (!this.running) throw new UnavailableError('executor is not running')
    if (options.signal?.aborted === true) throw new CancelledError()
    checkInputFiles(job.inputs ?? [])
    // Server-side caps always win over what the job asks.
    const limits = {
      memoryBytes: Math.min(job.limits.memoryBytes, this.init.maxMemoryBytes),
      timeoutMs: Math.min(job.limits.timeoutMs, this.init.maxTimeoutMs),
      outputBytes: Math.min(job.limits.outputBytes, this.init.maxOutputBytes),
      fuel: fuelOf(job, this.init.maxFuel)
    }
    const variant: Variant = job.profile === 'deterministic' ? 'deterministic' : limits.fuel !== undefined ? 'metered' : 'plain'
    const t0 = performance.now()
    const cached = this.cache.get(cacheKey(job.moduleHash, variant))?.memoryBytes === limits.memoryBytes
    const compiled = await this.compiled(job, limits.memoryBytes, variant)
    const compileTimeUs = cached ? undefined : Math.round((performance.now() - t0) * 1000)
    if (variant === 'deterministic' && compiled.relaxedSimd) {
      throw new InvalidModuleError('module uses relaxed SIMD, whose results differ between CPUs: not allowed in the deterministic profile')
    }
    if (variant === 'deterministic' && compiled.floatSimd) {
      throw new InvalidModuleError('module uses SIMD float arithmetic, whose NaN bits differ between CPUs: not allowed in the deterministic profile')
    }
    // Compiling takes a while: the caller may have given up meanwhile.
    if (isAborted(options.signal)) throw new CancelledError()
    if (this.queue.length >= this.init.queueCapacity) throw new QueueFullError('executor queue is full, retry later')
    return await new Promise<WasmResult>((resolve, reject) => {
      const pending: Pending = { job, compiled, compileTimeUs, limits, resolve, reject, signal: options.signal }
      if (options.signal !== undefined) {
        pending.onAbort = () => this.abort(pending)
        options.signal.addEventListener('abort', pending.onAbort, { once: true })
      }
      this.queue.push(pending)
      this.dispatch()
    })
  }

  /**
   * The compiled module for a job: from the cache, or admitted, rewritten (in its variant) and
   * compiled from its bytes. A module needed in another variant than the cached ones is compiled
   * from its bytes again: without them the caller is asked for them (module_not_cached).
   */
  private async compiled (job: WasmJob, memoryBytes: number, variant: Variant): Promise<Compiled> {
    const key = cacheKey(job.moduleHash, variant)
    const hit = this.cache.get(key)
    // Keyed by hash and variant, checked against the cap: the maxima were rewritten for that cap.
    if (hit !== undefined && hit.memoryBytes === memoryBytes) {
      this.cache.delete(key)
      this.cache.set(key, hit)
      return hit
    }
    const bytes = job.module
    if (bytes === undefined || bytes.byteLength === 0) {
      if (hit === undefined) throw new ModuleNotCachedError(`module ${job.moduleHash} is not cached on this executor${this.hasModule(job.moduleHash) ? ` in its ${variant} variant` : ''}`)
      // Cached under another memory cap: recompile from nothing is impossible, so ask for bytes.
      throw new ModuleNotCachedError(`module ${job.moduleHash} is cached with another memory cap; send its bytes`)
    }
    const admitted = admit(bytes, job.moduleHash, { maxModuleBytes: this.init.maxModuleBytes, memoryBytes })
    const rewritten = rewriteModule(admitted.bytes, { metered: variant !== 'plain', canonicalNaN: variant === 'deterministic', ownMaxPages: admitted.declaredMaxPages, capPages: admitted.linearMaxBytes / PAGE_BYTES })
    let module: WebAssembly.Module
    try {
      module = await WebAssembly.compile(rewritten.bytes)
    } catch (err) {
      throw new InvalidModuleError(`invalid WebAssembly: ${String((err as Error).message).slice(0, 200)}`)
    }
    const exports = WebAssembly.Module.exports(module)
    if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) throw new InvalidModuleError('module must export a "_start" function (a WASI command)')
    if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) throw new InvalidModuleError('module must export its memory as "memory"')
    const imports = WebAssembly.Module.imports(module).filter((i) => i.module === WASI_MODULE).map((i) => i.name)
    const compiled = { module, bytes: rewritten.bytes.byteLength, relaxedSimd: rewritten.relaxedSimd, floatSimd: rewritten.floatSimd, imports, memoryBytes, linearMaxBytes: admitted.linearMaxBytes }
    this.evict(key)
    this.cache.set(key, compiled)
    this.cacheBytes += compiled.bytes
    while (this.cache.size > this.init.moduleCacheSize || (this.cacheBytes > this.init.moduleCacheBytes && this.cache.size > 1)) this.evict(this.cache.keys().next().value!)
    return compiled
  }

  private evict (key: string): void {
    const old = this.cache.get(key)
    if (old === undefined) return
    this.cache.delete(key)
    this.cacheBytes -= old.bytes
  }

  private dispatch (): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return
      if (!slot.ready || slot.job !== undefined) continue
      const p = this.queue.shift()!
      const id = this.nextId++
      const timer = setTimeout(() => this.timeout(slot), p.limits.timeoutMs)
      slot.job = { ...p, id, timer, startedAt: Date.now(), t0: performance.now(), settled: false }
      slot.cpuSeenUs = slot.threadCpuUs
      slot.heapLow = Infinity
      if (this.init.heapPollMs > 0) slot.monitor = setInterval(() => this.sample(slot, id), this.init.heapPollMs).unref()
      const msg: RunMessage = {
        id,
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
      slot.worker.postMessage(msg)
    }
  }

  private spawn (): Slot {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      resourceLimits: {
        maxOldGenerationSizeMb: Math.ceil(this.init.maxMemoryBytes / (1024 * 1024)) + WORKER_HEAP_OVERHEAD_MB,
        maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB
      }
    })
    const slot: Slot = { worker, ready: false, threadCpuUs: 0, cpuSeenUs: 0, heapLow: Infinity, sampling: false }
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.kind === 'ready') { slot.ready = true; slot.threadCpuUs = msg.threadCpuUs; this.dispatch(); return }
      const job = slot.job
      if (job === undefined || job.id !== msg.id) return
      if (msg.kind === 'result') this.settle(job, resultOf(msg, job.compileTimeUs))
      slot.threadCpuUs = msg.threadCpuUs
      if (msg.kind === 'idle' || msg.idle) {
        this.release(slot)
        this.dispatch()
      }
    })
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        this.replace(slot, 'memory_limit', `heap objects passed the worker's heap cap of ${this.init.maxMemoryBytes} bytes`)
      } else {
        this.log?.error({ err, job: slot.job?.job.jobId }, 'executor worker crashed')
        this.replace(slot, 'trap', 'worker crashed')
      }
    })
    worker.on('exit', (code) => {
      if (!this.running || !this.slots.includes(slot)) return
      this.log?.error({ exitCode: code, job: slot.job?.job.jobId }, 'executor worker exited unexpectedly')
      this.replace(slot, 'trap', 'worker exited')
    })
    return slot
  }

  /** Gives a job its result (once); its worker may still be leaving the guest's code. */
  private settle (job: Slot['job'], result: WasmResult): void {
    if (job === undefined || job.settled) return
    job.settled = true
    this.completed++
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    job.resolve(result)
  }

  /** Frees the slot for the next job. */
  private release (slot: Slot): void {
    if (slot.job === undefined) return
    clearTimeout(slot.job.timer)
    clearInterval(slot.monitor)
    slot.job = undefined
  }

  /**
   * One sample of a running job: its thread's CPU time (reported if the worker dies) and its
   * heap. Growth is measured from the lowest use seen during the job (garbage of the job
   * before is collected on the way), so it counts what this job keeps alive.
   */
  private sample (slot: Slot, id: number): void {
    if (slot.sampling) return
    slot.sampling = true
    const worker = slot.worker
    const current = (): Slot['job'] | undefined => slot.worker === worker && slot.job?.id === id && !slot.job.settled ? slot.job : undefined
    void Promise.all([
      worker.cpuUsage().then((u) => { if (current() !== undefined) slot.cpuSeenUs = u.user + u.system }, () => {}),
      worker.getHeapStatistics().then((h) => {
        const job = current()
        if (job === undefined) return
        slot.heapLow = Math.min(slot.heapLow, h.used_heap_size)
        const cap = job.compiled.memoryBytes
        if (h.used_heap_size - slot.heapLow > cap + WORKER_YOUNG_GENERATION_MB * 1024 * 1024) {
          this.replace(slot, 'memory_limit', `heap objects passed the job's memory cap of ${cap} bytes`)
        }
      }, () => {})
    ]).finally(() => { slot.sampling = false })
  }

  private timeout (slot: Slot): void {
    // libuv arms timers from its cached loop time, so one can fire a fraction of a millisecond
    // before the limit as performance.now() counts it: a job is never stopped short of its limit.
    const job = slot.job
    if (job !== undefined) {
      const left = job.limits.timeoutMs - (performance.now() - job.t0)
      if (left > 0) {
        job.timer = setTimeout(() => this.timeout(slot), Math.ceil(left))
        return
      }
    }
    this.replace(slot, 'timeout', `wall-time limit of ${slot.job?.limits.timeoutMs ?? 0} ms reached`)
  }

  /**
   * Ends the slot's job (unless it already has its result) with `status`, terminates its worker
   * and starts a fresh one. The job's CPU time is read from the thread before it goes.
   */
  private replace (slot: Slot, status: WasmStatus, detail: string): void {
    const job = slot.job
    this.release(slot)
    const index = this.slots.indexOf(slot)
    if (index === -1) return
    this.slots[index] = this.spawn()
    const old = slot.worker
    old.removeAllListeners('exit')
    old.removeAllListeners('message')
    old.on('error', () => {}) // a late error of a worker being dropped is not news
    const finishedAt = Date.now()
    const wallTimeUs = Math.round((performance.now() - (job?.t0 ?? 0)) * 1000)
    void threadCpu(old, slot.cpuSeenUs).then((cpu) => {
      void old.terminate()
      if (job === undefined || job.settled) return
      this.settle(job, {
        status,
        exitCode: -1,
        stdout: new Uint8Array(),
        stderr: new Uint8Array(),
        outputs: [],
        ...(status === 'trap' ? { trap: 'other' } : {}),
        ...(job.compileTimeUs !== undefined ? { compileTimeUs: job.compileTimeUs } : {}),
        wallTimeUs,
        cpuTimeUs: Math.max(0, cpu - slot.threadCpuUs),
        startedAt: new Date(job.startedAt).toISOString(),
        finishedAt: new Date(finishedAt).toISOString(),
        detail
      })
      this.dispatch()
    })
  }

  private abort (p: Pending): void {
    const i = this.queue.indexOf(p)
    if (i !== -1) {
      this.queue.splice(i, 1)
      p.reject(new CancelledError('job cancelled'))
      return
    }
    const slot = this.slots.find((s) => s.job?.resolve === p.resolve)
    if (slot === undefined || slot.job?.settled === true) return
    slot.job!.settled = true
    this.replace(slot, 'trap', 'cancelled')
    p.reject(new CancelledError('job cancelled'))
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

/** The thread's CPU time so far (µs), or `fallback` when it is gone or does not answer in time. */
async function threadCpu (worker: Worker, fallback: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<number>((resolve) => { timer = setTimeout(() => resolve(fallback), CPU_QUERY_MS) })
  try {
    return await Promise.race([worker.cpuUsage().then((u) => u.user + u.system, () => fallback), late])
  } finally {
    clearTimeout(timer)
  }
}

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

/** Cache key of a module's compiled variant: a new rewrite version never reuses an old entry. */
/** plain: unmetered; metered: fuel; deterministic: fuel and canonical NaNs. */
type Variant = 'plain' | 'metered' | 'deterministic'
const VARIANTS: readonly Variant[] = ['plain', 'metered', 'deterministic']
const cacheKey = (hash: string, variant: Variant): string => `${hash}|${variant}|r${REWRITE_VERSION}`

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
