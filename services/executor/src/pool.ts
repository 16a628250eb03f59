/**
 * The V8 runtime: WebAssembly compiled once per module hash (cached, LRU) and run in a pool of
 * worker threads. A bounded queue gives back-pressure; a job past its wall-time limit is
 * stopped by terminating its worker (~2 ms), which is then replaced.
 */
import { Worker } from 'node:worker_threads'
import { CancelledError, InvalidModuleError, ModuleNotCachedError, QueueFullError, UnavailableError } from '../../core/src/errors.ts'
import { admitModule, WASI_MODULE } from './admission.ts'
import type { RunMessage, ResultMessage } from './worker.ts'
import type { RuntimeStatus, WasmJob, WasmResult, WasmRuntime } from './runtime.ts'

export const DEFAULT_WORKERS = 1
export const DEFAULT_QUEUE_CAPACITY = 256
export const DEFAULT_MAX_MODULE_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_MEMORY_BYTES = 256 * 1024 * 1024
export const DEFAULT_MAX_TIMEOUT_MS = 60_000
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024
export const DEFAULT_MODULE_CACHE_SIZE = 128

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
}

interface Compiled {
  module: WebAssembly.Module
  imports: string[]
  /** The memory cap the module's declared maximum was rewritten to. */
  memoryBytes: number
}

interface Pending {
  job: WasmJob
  compiled: Compiled
  limits: WasmJob['limits']
  resolve: (r: WasmResult) => void
  reject: (e: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

interface Slot {
  worker: Worker
  ready: boolean
  job?: Pending & { id: number, timer: NodeJS.Timeout, startedAt: number, t0: number }
}

export class V8Runtime implements WasmRuntime {
  readonly name = 'v8-wasm'
  readonly version = `node-${process.versions.node}/v8-${process.versions.v8}`
  private readonly init: Required<V8RuntimeInit>
  private readonly cache = new Map<string, Compiled>()
  private readonly queue: Pending[] = []
  private slots: Slot[] = []
  private nextId = 1
  private running = false
  private completed = 0

  constructor (init: V8RuntimeInit = {}) {
    this.init = {
      workers: init.workers ?? DEFAULT_WORKERS,
      queueCapacity: init.queueCapacity ?? DEFAULT_QUEUE_CAPACITY,
      maxModuleBytes: init.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES,
      maxMemoryBytes: init.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES,
      maxTimeoutMs: init.maxTimeoutMs ?? DEFAULT_MAX_TIMEOUT_MS,
      maxOutputBytes: init.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      moduleCacheSize: init.moduleCacheSize ?? DEFAULT_MODULE_CACHE_SIZE
    }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
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
      if (s.job !== undefined) { clearTimeout(s.job.timer); s.job.reject(new UnavailableError('executor is stopping')) }
      await s.worker.terminate()
    }))
    this.slots = []
  }

  hasModule (hash: string): boolean {
    return this.cache.has(hash)
  }

  status (): RuntimeStatus {
    return {
      workers: this.slots.filter((s) => s.ready).length,
      running: this.slots.filter((s) => s.job !== undefined).length,
      queued: this.queue.length,
      queueCapacity: this.init.queueCapacity,
      cachedModules: this.cache.size,
      completedJobs: this.completed
    }
  }

  async run (job: WasmJob, options: { signal?: AbortSignal } = {}): Promise<WasmResult> {
    if (!this.running) throw new UnavailableError('executor is not running')
    if (options.signal?.aborted === true) throw new CancelledError()
    // Server-side caps always win over what the job asks.
    const limits = {
      memoryBytes: Math.min(job.limits.memoryBytes, this.init.maxMemoryBytes),
      timeoutMs: Math.min(job.limits.timeoutMs, this.init.maxTimeoutMs),
      outputBytes: Math.min(job.limits.outputBytes, this.init.maxOutputBytes)
    }
    const compiled = await this.compiled(job, limits.memoryBytes)
    // Compiling takes a while: the caller may have given up meanwhile.
    if (isAborted(options.signal)) throw new CancelledError()
    if (this.queue.length >= this.init.queueCapacity) throw new QueueFullError('executor queue is full, retry later')
    return await new Promise<WasmResult>((resolve, reject) => {
      const pending: Pending = { job, compiled, limits, resolve, reject, signal: options.signal }
      if (options.signal !== undefined) {
        pending.onAbort = () => this.abort(pending)
        options.signal.addEventListener('abort', pending.onAbort, { once: true })
      }
      this.queue.push(pending)
      this.dispatch()
    })
  }

  /** The compiled module for a job: from the cache, or admitted and compiled from its bytes. */
  private async compiled (job: WasmJob, memoryBytes: number): Promise<Compiled> {
    const hit = this.cache.get(job.moduleHash)
    if (hit !== undefined && hit.memoryBytes === memoryBytes) {
      this.cache.delete(job.moduleHash)
      this.cache.set(job.moduleHash, hit)
      return hit
    }
    const bytes = job.module
    if (bytes === undefined || bytes.byteLength === 0) {
      if (hit === undefined) throw new ModuleNotCachedError(`module ${job.moduleHash} is not cached on this executor`)
      // Cached under another memory cap: recompile from nothing is impossible, so ask for bytes.
      throw new ModuleNotCachedError(`module ${job.moduleHash} is cached with another memory cap; send its bytes`)
    }
    const admitted = admitModule(bytes, job.moduleHash, { maxModuleBytes: this.init.maxModuleBytes, memoryBytes })
    let module: WebAssembly.Module
    try {
      module = await WebAssembly.compile(admitted as Uint8Array<ArrayBuffer>)
    } catch (err) {
      throw new InvalidModuleError(`invalid WebAssembly: ${String((err as Error).message).slice(0, 200)}`)
    }
    const exports = WebAssembly.Module.exports(module)
    if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) throw new InvalidModuleError('module must export a "_start" function (a WASI command)')
    if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) throw new InvalidModuleError('module must export its memory as "memory"')
    const imports = WebAssembly.Module.imports(module).filter((i) => i.module === WASI_MODULE).map((i) => i.name)
    const compiled = { module, imports, memoryBytes }
    this.cache.set(job.moduleHash, compiled)
    while (this.cache.size > this.init.moduleCacheSize) this.cache.delete(this.cache.keys().next().value!)
    return compiled
  }

  private dispatch (): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return
      if (!slot.ready || slot.job !== undefined) continue
      const p = this.queue.shift()!
      const id = this.nextId++
      const timer = setTimeout(() => this.timeout(slot), p.limits.timeoutMs)
      slot.job = { ...p, id, timer, startedAt: Date.now(), t0: performance.now() }
      const msg: RunMessage = {
        id,
        module: p.compiled.module,
        imports: p.compiled.imports,
        args: p.job.args,
        env: p.job.env,
        stdin: p.job.stdin,
        outputBytes: p.limits.outputBytes,
        memoryBytes: p.compiled.memoryBytes
      }
      slot.worker.postMessage(msg)
    }
  }

  private spawn (): Slot {
    const worker = new Worker(new URL('./worker.ts', import.meta.url))
    const slot: Slot = { worker, ready: false }
    worker.on('message', (msg: ResultMessage | { ready: true }) => {
      if ('ready' in msg) { slot.ready = true; this.dispatch(); return }
      const job = slot.job
      if (job === undefined || job.id !== msg.id) return
      this.finish(slot)
      job.resolve({
        status: msg.status,
        exitCode: msg.exitCode,
        stdout: msg.stdout,
        stderr: msg.stderr,
        wallTimeUs: msg.wallTimeUs,
        cpuTimeUs: msg.cpuTimeUs,
        startedAt: new Date(msg.startedAt).toISOString(),
        finishedAt: new Date(msg.finishedAt).toISOString(),
        detail: msg.detail
      })
      this.dispatch()
    })
    worker.on('error', () => this.replace(slot, 'trap', 'worker crashed'))
    worker.on('exit', () => { if (this.running && this.slots.includes(slot)) this.replace(slot, 'trap', 'worker exited') })
    return slot
  }

  private finish (slot: Slot): void {
    const job = slot.job
    if (job === undefined) return
    this.completed++
    clearTimeout(job.timer)
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    slot.job = undefined
  }

  private timeout (slot: Slot): void {
    this.replace(slot, 'timeout', `wall-time limit of ${slot.job?.limits.timeoutMs ?? 0} ms reached`)
  }

  /** Ends the slot's job (if any) with `status`, terminates its worker and starts a fresh one. */
  private replace (slot: Slot, status: 'timeout' | 'trap', detail: string): void {
    const job = slot.job
    this.finish(slot)
    const index = this.slots.indexOf(slot)
    if (index === -1) return
    this.slots[index] = this.spawn()
    slot.worker.removeAllListeners('exit')
    void slot.worker.terminate()
    if (job !== undefined) {
      const finishedAt = Date.now()
      job.resolve({
        status,
        exitCode: -1,
        stdout: new Uint8Array(),
        stderr: new Uint8Array(),
        wallTimeUs: Math.round((performance.now() - job.t0) * 1000),
        cpuTimeUs: 0,
        startedAt: new Date(job.startedAt).toISOString(),
        finishedAt: new Date(finishedAt).toISOString(),
        detail
      })
    }
  }

  private abort (p: Pending): void {
    const i = this.queue.indexOf(p)
    if (i !== -1) {
      this.queue.splice(i, 1)
      p.reject(new CancelledError('job cancelled'))
      return
    }
    const slot = this.slots.find((s) => s.job?.resolve === p.resolve)
    if (slot === undefined) return
    this.finish(slot)
    this.slots[this.slots.indexOf(slot)] = this.spawn()
    slot.worker.removeAllListeners('exit')
    void slot.worker.terminate()
    p.reject(new CancelledError('job cancelled'))
  }
}

const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

export function createV8Runtime (init: V8RuntimeInit = {}): WasmRuntime {
  return new V8Runtime(init)
}
