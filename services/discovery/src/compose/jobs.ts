/**
 * The job path's caps, from the config and the executors that exist now: how many jobs the node
 * takes at once (workers plus queue of every executor) and how many of them may be remote.
 */
import type { NodeConfig, Logger } from '@phase-network/process'
import { JobRunner, type JobRunnerComponents } from '../jobs.ts'
import type { ExecutorSet } from '../executors.ts'

export interface JobsComponents extends Omit<JobRunnerComponents, 'executors' | 'logger'> {
  executors: Pick<ExecutorSet, 'execute' | 'size'>
  logger: Logger
}

export type JobsConfig = Pick<NodeConfig, 'limits' | 'remote' | 'workersPerExecutor' | 'queueCapacity'>

/** A JobRunner whose caps follow the executor count (executors join and leave under pm2). */
export function createJobs (components: JobsComponents, config: JobsConfig, peerId: string): JobRunner {
  const { executors } = components
  const perExecutor = config.workersPerExecutor + config.queueCapacity
  return new JobRunner(components, {
    limits: config.limits,
    peerId,
    maxInFlight: () => Math.max(1, executors.size) * perExecutor,
    remote: {
      maxTimeoutMs: config.remote.maxTimeoutMs,
      maxMemoryMb: config.remote.maxMemoryMb,
      maxJobs: () => remoteSlots(config, executors.size)
    }
  })
}

/**
 * Slack for the floating-point product below: a share of 0.5 of 2 workers is 1, not 0.99999….
 */
const SHARE_EPSILON = 1e-9

/**
 * Remote jobs running at once: a share of the workers (not of the queues), so a remote job
 * holds no worker a local job needs; at least one unless the share is 0 (a node with a single
 * worker then lets one remote job hold it for up to remote.max_timeout_ms).
 */
export function remoteSlots (config: Pick<NodeConfig, 'remote' | 'workersPerExecutor'>, executors: number): number {
  const share = config.remote.executorShare
  if (share === 0 || config.remote.maxJobs === 0) return 0
  return Math.min(config.remote.maxJobs, Math.max(1, Math.floor(executors * config.workersPerExecutor * share + SHARE_EPSILON)))
}
