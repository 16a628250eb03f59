/**
 * The V8 runtime's options and their defaults, in one place. The runtime itself is
 * `pool/v8-runtime.ts`: a compiled-module cache (`pool/module-cache.ts`) in front of a pool of
 * worker threads (`pool/thread-host.ts`) whose slots follow one state machine (`pool/slots.ts`).
 */
import { configDefault } from '@phase-network/protocol/config'
import { DEFAULT_MAX_FUEL as CONFIG_DEFAULT_MAX_FUEL } from '@phase-network/process'
import type { Logger } from '@phase-network/process'
import { DEFAULT_BOOT_TIMEOUT_MS, DEFAULT_MAX_RESPAWN_DELAY_MS, DEFAULT_RESPAWN_DELAY_MS } from './pool/slots.ts'

export const DEFAULT_WORKERS = configDefault('workers_per_executor')
export const DEFAULT_QUEUE_CAPACITY = configDefault('queue_capacity')
export const DEFAULT_MAX_MODULE_BYTES = configDefault('limits.max_module_bytes')
export const DEFAULT_MAX_MEMORY_BYTES = configDefault('limits.max_memory_mb') * 1024 * 1024
export const DEFAULT_MAX_TIMEOUT_MS = configDefault('limits.max_timeout_ms')
export const DEFAULT_MAX_OUTPUT_BYTES = configDefault('limits.max_output_bytes')
/** Entries of the compiled-module cache: a bound on its bookkeeping; its bytes bind first. */
export const DEFAULT_MODULE_CACHE_SIZE = 1024
/**
 * Estimated memory (pool/module-cache.ts `compiledCost`) of the compiled modules an executor keeps
 * (config `module_cache.compiled_bytes`, 8 MiB: ~150 small modules, ~5 of 200 KB, 1 of 1 MB).
 * Issue 11 set executors within 20% of their ~42 MiB idle after 1,000 distinct modules. A full
 * cache is memory held by design: at 16 MiB (~300 small modules) an executor read 1.15-1.23×
 * its idle 30 s after them (bench/memory.ts, three runs), at 8 MiB 1.08-1.09× (idle GC and
 * malloc_trim give back the rest). Less than ~8 MiB holds no compiled 1 MB module, and each miss
 * costs a job a TurboFan compile (0.1 s to seconds): the default keeps a few real modules warm,
 * and an operator can trade either way.
 */
export const DEFAULT_MODULE_CACHE_BYTES = configDefault('module_cache.compiled_bytes')
/** Fuel a job may use, whatever it asks, and what a deterministic job that names none runs with (config.ts). */
export const DEFAULT_MAX_FUEL = BigInt(CONFIG_DEFAULT_MAX_FUEL)
/** Heap a worker needs beyond the node's memory cap: its own runtime (~5 MiB) and tables (≤ 8 MiB). */
export const WORKER_HEAP_OVERHEAD_MB = 48
/** Young generation of a worker's heap. */
export const WORKER_YOUNG_GENERATION_MB = 16
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
  /** Compiled modules kept. Default: 1024 (the byte bound binds first). */
  moduleCacheSize?: number
  /** Sampling period of a running job's heap (ms); 0 leaves only the worker's hard heap limit. Default: 20. */
  heapPollMs?: number
  /** Estimated memory of the compiled modules the cache holds (module-cache.ts `compiledCost`). Default: 8 MiB. */
  moduleCacheBytes?: number
  /** Fuel cap per job, and a deterministic job's fuel when it names none. Default: 10^12. */
  maxFuel?: bigint
  /** How long a worker has to boot; past it, start() fails (WorkerBootError) or, later, the slot backs off. Default: 30 s. */
  bootTimeoutMs?: number
  /** Delay before respawning a worker that failed, doubled per consecutive failure. Default: 100 ms. */
  respawnDelayMs?: number
  /** Cap of that delay. Default: 30 s. */
  maxRespawnDelayMs?: number
}

export interface V8RuntimeComponents {
  /** Internal failures (a worker crash and its cause) are logged here. Default: none. */
  logger?: Pick<Logger, 'error' | 'warn'>
  /** The script each worker thread runs. Default: `worker.ts` (a test gives one that fails to boot). */
  workerScript?: URL
}

export { DEFAULT_BOOT_TIMEOUT_MS, DEFAULT_RESPAWN_DELAY_MS, DEFAULT_MAX_RESPAWN_DELAY_MS }
