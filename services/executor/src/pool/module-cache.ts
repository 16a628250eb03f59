/**
 * Compiled modules by hash and variant, least recently used first, bounded by the memory they hold
 * (`compiledCost`: V8's machine code and its per-module metadata are outside the JS heap, and ~20×
 * a small module's bytes) and, for its bookkeeping, by entries. Before compiling, each module is admitted and rewritten
 * (rewrite/rewrite.ts): memory.grow through a function that records a refusal by the cap, and, in
 * the metered variant, fuel charges; the deterministic variant also canonicalizes NaNs where their
 * bits become visible. A module is compiled per variant it is asked in, each cached under its
 * hash, variant and REWRITE_VERSION.
 */
import { CancelledError, InvalidModuleError, ModuleNotCachedError, isPhaseError } from '@phase-network/protocol/errors'
import { admit, PAGE_BYTES, WASI_MODULE } from '../admission.ts'
import { rewriteModuleYielding, REWRITE_SLICE_BYTES, REWRITE_VERSION } from '../rewrite/rewrite.ts'
import type { WasmJob } from '../runtime.ts'

/** plain: unmetered; metered: fuel; deterministic: fuel and canonical NaNs. */
export type Variant = 'plain' | 'metered' | 'deterministic'
export const VARIANTS: readonly Variant[] = ['plain', 'metered', 'deterministic']

export interface Compiled {
  module: WebAssembly.Module
  /** Estimated memory the compiled module holds (`compiledCost`: what the cache's byte bound counts). */
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

export interface ModuleCacheInit {
  maxModuleBytes: number
  /** Entries kept. */
  moduleCacheSize: number
  /** Estimated memory (`compiledCost`) of the compiled modules kept. */
  moduleCacheBytes: number
}

/** Characters of the engine's compile error quoted to the client (its text comes from the guest's bytes). */
const COMPILE_ERROR_CHARS = 200

/**
 * What a compiled module holds in the process beyond its JS objects, measured with
 * bench/compiled-module-cost.ts (PSS held per module, V8 13.6, TurboFan only, eager compiles,
 * MALLOC_ARENA_MAX=2): 20-40 KiB for the 812-byte hello (its jump tables and code on pages of
 * their own, its metadata), 480-670 KiB for the rewritten sha256 kernel (112 KB), 1.45-1.6 MiB for
 * a 219 KB Rust program: machine code, the wire bytes kept, and the decoded names and metadata, at
 * 4-7× the module's bytes. The estimate takes the top of that, so the byte bound holds.
 */
export const COMPILED_BASE_BYTES = 48 * 1024
export const COMPILED_BYTES_PER_WASM_BYTE = 8

/** Estimated bytes a compiled module holds: see COMPILED_BASE_BYTES. */
export function compiledCost (wasm: Uint8Array): number {
  return COMPILED_BASE_BYTES + COMPILED_BYTES_PER_WASM_BYTE * wasm.byteLength
}

/** Cache key of a module's compiled variant: a new rewrite version never reuses an old entry. */
const cacheKey = (hash: string, variant: Variant): string => `${hash}|${variant}|r${REWRITE_VERSION}`

export class ModuleCache {
  private readonly init: ModuleCacheInit
  /** Compiled modules by `cacheKey`, least recently used first. */
  private readonly cache = new Map<string, Compiled>()
  private bytes = 0
  /** Builds under way, by `cacheKey` and memory cap: a job asking for one waits for it. */
  private readonly building = new Map<string, Build>()
  /**
   * Big modules (those whose rewrite pauses) are built one at a time: each holds ~2-3× its bytes
   * while it is rewritten and compiled, and several interleaved would all finish late.
   */
  private bigLane: Promise<unknown> = Promise.resolve()

  constructor (init: ModuleCacheInit) {
    this.init = init
  }

  get size (): number {
    return this.cache.size
  }

  /** Estimated memory of the compiled modules held (what `moduleCacheBytes` bounds). */
  get heldBytes (): number {
    return this.bytes
  }

  has (hash: string): boolean {
    return VARIANTS.some((v) => this.cache.has(cacheKey(hash, v)))
  }

  /** The module is cached in this variant for this memory cap (no compiling needed). */
  hit (hash: string, variant: Variant, memoryBytes: number): boolean {
    return this.cache.get(cacheKey(hash, variant))?.memoryBytes === memoryBytes
  }

  /**
   * The compiled module for a job: from the cache, or admitted, rewritten (in its variant) and
   * compiled from its bytes. A module needed in another variant than the cached ones is compiled
   * from its bytes again: without them the caller is asked for them (module_not_cached). Jobs
   * asking for a module being built wait for that build; a job whose `signal` aborts stops
   * waiting at once, and a big build no job waits for any more is not started.
   */
  async compiled (job: WasmJob, memoryBytes: number, variant: Variant, signal?: AbortSignal): Promise<Compiled> {
    const key = cacheKey(job.moduleHash, variant)
    const buildKey = `${key}|${memoryBytes}`
    for (;;) {
      const hit = this.cache.get(key)
      // Keyed by hash and variant, checked against the cap: the maxima were rewritten for that cap.
      if (hit !== undefined && hit.memoryBytes === memoryBytes) {
        this.cache.delete(key)
        this.cache.set(key, hit)
        return hit
      }
      let build = this.building.get(buildKey)
      const mine = build === undefined
      if (build === undefined) {
        const bytes = job.module
        if (bytes === undefined || bytes.byteLength === 0) {
          if (hit === undefined) throw new ModuleNotCachedError(`module ${job.moduleHash} is not cached on this executor${this.has(job.moduleHash) ? ` in its ${variant} variant` : ''}`)
          // Cached under another memory cap: recompile from nothing is impossible, so ask for bytes.
          throw new ModuleNotCachedError(`module ${job.moduleHash} is cached with another memory cap; send its bytes`)
        }
        build = this.startBuild(buildKey, key, job, bytes, memoryBytes, variant)
      }
      try {
        return await waitFor(build, signal)
      } catch (err) {
        // Another job's build failed on that job's bytes, or was dropped: this one asks again
        // (and builds from its own bytes, or without them is asked for them).
        if (mine || signal?.aborted === true || (!isPhaseError(err, 'hash_mismatch') && !isPhaseError(err, 'cancelled'))) throw err
      }
    }
  }

  /** Starts a build (a big one when the lane comes to it, if a job still waits for it then). */
  private startBuild (buildKey: string, key: string, job: WasmJob, bytes: Uint8Array, memoryBytes: number, variant: Variant): Build {
    const run = async (): Promise<Compiled> => await this.build(key, job, bytes, memoryBytes, variant)
    const entry: Build = { waiting: 0, promise: bytes.byteLength < REWRITE_SLICE_BYTES ? run() : this.inBigLane(run, () => entry.waiting > 0) }
    this.building.set(buildKey, entry)
    // Settled, it makes way for the next build of the key, before any waiter hears of it (the
    // first reaction registered runs first). With no waiter left its failure is handled here.
    const done = (): void => { if (this.building.get(buildKey) === entry) this.building.delete(buildKey) }
    entry.promise.then(done, done)
    return entry
  }

  /** Runs `run` once the big builds before it are done, if `wanted` still holds then. */
  private async inBigLane (run: () => Promise<Compiled>, wanted: () => boolean): Promise<Compiled> {
    const turn = this.bigLane.then(async () => {
      if (!wanted()) throw new CancelledError('no job waits for this module any more; not built')
      return await run()
    })
    this.bigLane = turn.catch(() => {})
    return await turn
  }

  /** Admits, rewrites (pausing in slices), compiles and caches one module. */
  private async build (key: string, job: WasmJob, bytes: Uint8Array, memoryBytes: number, variant: Variant): Promise<Compiled> {
    const admitted = admit(bytes, job.moduleHash, { maxModuleBytes: this.init.maxModuleBytes, memoryBytes })
    // In slices, the event loop turning between them: other jobs and status polls go on meanwhile.
    const rewritten = await rewriteModuleYielding(admitted.bytes, { metered: variant !== 'plain', canonicalNaN: variant === 'deterministic', ownMaxPages: admitted.declaredMaxPages, capPages: admitted.linearMaxBytes / PAGE_BYTES })
    let module: WebAssembly.Module
    try {
      module = await WebAssembly.compile(rewritten.bytes)
    } catch (err) {
      throw new InvalidModuleError(`invalid WebAssembly: ${String((err as Error).message).slice(0, COMPILE_ERROR_CHARS)}`)
    }
    const exports = WebAssembly.Module.exports(module)
    if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) throw new InvalidModuleError('module must export a "_start" function (a WASI command)')
    if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) throw new InvalidModuleError('module must export its memory as "memory"')
    const imports = WebAssembly.Module.imports(module).filter((i) => i.module === WASI_MODULE).map((i) => i.name)
    const compiled = { module, bytes: compiledCost(rewritten.bytes), relaxedSimd: rewritten.relaxedSimd, floatSimd: rewritten.floatSimd, imports, memoryBytes, linearMaxBytes: admitted.linearMaxBytes }
    this.evict(key)
    this.cache.set(key, compiled)
    this.bytes += compiled.bytes
    while (this.cache.size > this.init.moduleCacheSize || (this.bytes > this.init.moduleCacheBytes && this.cache.size > 1)) this.evict(this.cache.keys().next().value!)
    return compiled
  }

  /** Drops every compiled module. */
  clear (): void {
    this.cache.clear()
    this.bytes = 0
  }

  private evict (key: string): void {
    const old = this.cache.get(key)
    if (old === undefined) return
    this.cache.delete(key)
    this.bytes -= old.bytes
  }
}

/** A build under way and the jobs waiting for it. */
interface Build {
  promise: Promise<Compiled>
  waiting: number
}

/** The build's outcome, or CancelledError as soon as `signal` aborts (the build goes on for others). */
async function waitFor (build: Build, signal: AbortSignal | undefined): Promise<Compiled> {
  if (signal?.aborted === true) throw new CancelledError()
  build.waiting++
  // Counted out the moment its job gives up (a lane turn in the same tick sees it gone).
  let counted = true
  const leave = (): void => { if (counted) { counted = false; build.waiting-- } }
  let onAbort: (() => void) | undefined
  try {
    return await new Promise<Compiled>((resolve, reject) => {
      if (signal !== undefined) {
        onAbort = () => { leave(); reject(new CancelledError()) }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      build.promise.then(resolve, reject)
    })
  } finally {
    leave()
    if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort)
  }
}
