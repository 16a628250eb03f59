/**
 * Resource ceilings of a whole node, derived from its configuration: the executor count,
 * worker threads per executor, and the largest memory and module a job may use. pm2 restarts
 * one process past its own figure (`max_memory_restart`, ops/ecosystem.config.cjs); the unit's
 * cgroup stops the node as a whole past the sum (`MemoryMax=`, `TasksMax=`, written by
 * ops/prepare.ts), so a runaway node cannot take the host. Changing the configuration changes
 * them: restart or reload the service.
 */
import type { NodeConfig } from '../services/core/process/src/config.ts'

const MIB = 1024 * 1024

/** pm2-runtime itself (measured: ~60 MiB PSS idle), with room to log bursts. */
export const SUPERVISOR_MB = 128
/** The signer holds one key and signs small documents. */
export const SIGNER_MB = 256
/** Discovery: the libp2p host, the public API, and modules in transit (two of the largest). */
export const DISCOVERY_BASE_MB = 512
/** One executor without jobs: Node, the gRPC server and its worker pool. */
export const EXECUTOR_BASE_MB = 128
/** Per worker thread, above the job's own linear memory: the thread's heap and compiled code. */
export const WORKER_OVERHEAD_MB = 64
/** Threads: one Node process uses ~12 (main, V8 platform, libuv pool, signals); room for more. */
export const TASKS_PER_PROCESS = 32
/** Per worker thread of an executor (the thread and what V8 starts for it). */
export const TASKS_PER_WORKER = 8
/**
 * Per wasmer runner process (executor_runtime wasmer), above its job's memory: Node and the SDK
 * (~60 MiB RSS), what it may gain over jobs before it is replaced (128 MiB) and the RSS a job may
 * use beyond its cap before its runner is killed (192 MiB).
 */
export const WASMER_RUNNER_OVERHEAD_MB = 384
/** pm2's helpers, the reload command and the start script run in the same cgroup. */
export const TASKS_SPARE = 64

export interface NodeLimits {
  /** pm2's per-process restart threshold, in MiB. */
  readonly processMb: { readonly signer: number, readonly discovery: number, readonly executor: number }
  /** The unit's MemoryMax=, in MiB: every process at its threshold, plus the supervisor. */
  readonly memoryMaxMb: number
  /** The unit's TasksMax=. */
  readonly tasksMax: number
}

export function nodeLimits (config: Pick<NodeConfig, 'executors' | 'workersPerExecutor' | 'limits'> & Partial<Pick<NodeConfig, 'executorRuntime'>>): NodeLimits {
  const moduleMb = Math.ceil(config.limits.maxModuleBytes / MIB)
  // With wasmer each worker is a runner process of its own (counted here with its executor).
  const wasmer = config.executorRuntime === 'wasmer'
  const executor = EXECUTOR_BASE_MB + 2 * moduleMb + config.workersPerExecutor * (config.limits.maxMemoryMb + (wasmer ? WASMER_RUNNER_OVERHEAD_MB : WORKER_OVERHEAD_MB))
  const discovery = DISCOVERY_BASE_MB + 2 * moduleMb
  const processes = 2 + config.executors
  return {
    processMb: { signer: SIGNER_MB, discovery, executor },
    memoryMaxMb: SUPERVISOR_MB + SIGNER_MB + discovery + config.executors * executor,
    tasksMax: TASKS_SPARE + TASKS_PER_PROCESS * (processes + 1) + (wasmer ? TASKS_PER_PROCESS : TASKS_PER_WORKER) * config.executors * config.workersPerExecutor
  }
}

/** The systemd drop-in that applies them to plasmd.service. */
export function unitDropIn (limits: NodeLimits, source: string | null): string {
  return [
    `# Written by 'plasmd prepare' from ${source ?? 'the embedded defaults'}; do not edit:`,
    '# change executors, workers_per_executor or limits.* there, then reload or restart plasmd.',
    '[Service]',
    `MemoryMax=${limits.memoryMaxMb}M`,
    `TasksMax=${limits.tasksMax}`,
    ''
  ].join('\n')
}
