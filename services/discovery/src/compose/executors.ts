/**
 * The node's local executors as discovery sees them: one ExecutorSet following the executor
 * sockets in the runtime folder (executors scaled under pm2 join and leave), with each restart
 * counted in the metrics.
 */
import type { NodeConfig, Logger } from '@phase-network/process'
import { internalAddresses } from '@phase-network/process'
import { messageBudget } from '@phase-network/protocol'
import { ExecutorSet } from '../executors.ts'
import type { NodeMetrics } from '../metrics.ts'
import { partOf, type Part } from './parts.ts'

export interface ExecutorsComponents {
  logger: Logger
  metrics: Pick<NodeMetrics, 'executorRestarted'>
}

export type ExecutorsConfig = Pick<NodeConfig, 'runtimeDir' | 'executors' | 'limits' | 'poisonQuarantineMs'>

export interface ExecutorsPart extends Part {
  executors: ExecutorSet
}

/** Opens a client per configured executor and starts watching the runtime folder. */
export function startExecutors (components: ExecutorsComponents, config: ExecutorsConfig): ExecutorsPart {
  const messageBytes = messageBudget(config.limits).executorRequest
  const executors = new ExecutorSet({ logger: components.logger }, { addresses: internalAddresses(config).executors, maxMessageBytes: messageBytes, quarantineMs: config.poisonQuarantineMs })
  executors.watch({ runtimeDir: config.runtimeDir, onRestart: (index) => components.metrics.executorRestarted(index) })
  return { executors, ...partOf(() => executors.close()) }
}
