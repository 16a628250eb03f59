/**
 * The `WasmRuntime` interface (DESIGN §4): what the executor needs of a WebAssembly engine.
 * The first implementation is V8 in a pool of worker threads (`pool.ts`); another engine can
 * replace it behind the same interface.
 */

export type WasmStatus = 'ok' | 'exit' | 'trap' | 'timeout' | 'memory_limit' | 'output_limit' | 'fuel_exhausted'

/** `deterministic`: virtual clock from the fuel used, random seeded from the job id, always metered. */
export type WasmProfile = 'default' | 'deterministic'

export interface WasmLimits {
  /** Linear memory cap in bytes (rounded down to 64 KiB pages). */
  memoryBytes: number
  /** Wall-time limit in ms; the job is killed, not waited for. */
  timeoutMs: number
  /** Cap on stdout + stderr + the bytes of the files left in /out. */
  outputBytes: number
  /** Fuel (≈ wasm instructions) the job may use; absent: unmetered, unless the profile is deterministic. */
  fuel?: bigint
}

/** A runtime's own caps: they always win over what a job asks. */
export interface RuntimeCaps {
  maxMemoryBytes: number
  maxTimeoutMs: number
  maxOutputBytes: number
}

/** The memory, time and output a job gets: what it asked, within the runtime's caps. */
export function cappedLimits (asked: WasmLimits, caps: RuntimeCaps): { memoryBytes: number, timeoutMs: number, outputBytes: number } {
  return {
    memoryBytes: Math.min(asked.memoryBytes, caps.maxMemoryBytes),
    timeoutMs: Math.min(asked.timeoutMs, caps.maxTimeoutMs),
    outputBytes: Math.min(asked.outputBytes, caps.maxOutputBytes)
  }
}

export interface WasmJob {
  jobId: string
  /** `sha256:<hex>` of the module bytes. */
  moduleHash: string
  /** Module bytes; absent when the runtime is expected to have the module cached. */
  module?: Uint8Array
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  /** Files the guest sees read-only under the preopen /in (`path` is `/in/<rel>`). Default: none. */
  inputs?: Array<{ path: string, data: Uint8Array }>
  limits: WasmLimits
  /** Absent: `default`. */
  profile?: WasmProfile
}

export interface WasmResult {
  status: WasmStatus
  /** The WASI proc_exit code, a u32 (0..4294967295; 0 when `_start` returned); -1 when the module did not exit. */
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  /** Regular files the guest left under /out, sorted by path (empty when it ended by a kill). */
  outputs: Array<{ path: string, data: Uint8Array }>
  /** Why the guest trapped (`unreachable`, `stack_overflow`, ...); only with status `trap`. */
  trap?: string
  /** Time spent admitting and compiling the module, when this job did it (never part of wallTimeUs). */
  compileTimeUs?: number
  /** The guest's run, from instantiation to its end; excludes compiling. */
  wallTimeUs: number
  cpuTimeUs: number
  /** RFC 3339 UTC with milliseconds. */
  startedAt: string
  finishedAt: string
  /** Short description of a trap or limit; '' on ok/exit. */
  detail: string
  /** Fuel used, when metered: the same on every run (the whole fuel when exhausted). */
  fuelUsed?: bigint
}

export interface RuntimeStatus {
  /** Workers ready to take a job (a replaced worker counts once it has booted). */
  workers: number
  running: number
  queued: number
  queueCapacity: number
  cachedModules: number
  /** Jobs run to an outcome since start. */
  completedJobs: number
}

export interface WasmRuntime {
  readonly name: string
  readonly version: string
  /** Runs one job. Throws PhaseErrors for jobs it refuses (module, queue); limits end in a status. */
  run: (job: WasmJob, options?: { signal?: AbortSignal }) => Promise<WasmResult>
  hasModule: (hash: string) => boolean
  status: () => RuntimeStatus
  start: () => Promise<void>
  stop: () => Promise<void>
}
