/**
 * What GetNodeInfo and GET /v1/node report: the node's identity and receipt key, its executors
 * and their runtime, and its network counters. The runtime is taken from the first executor
 * that answers, then kept (every executor of a node runs the same build).
 */
import type { NodeInfoLike } from '@phase-network/rpc'
import { ExecutorService } from '@phase-network/rpc/executor/v1'
import { VERSION, createGrpcClient, type GrpcClient } from '@phase-network/rpc'
import type { NodeConfig } from '@phase-network/process'
import { executorAddress } from '@phase-network/process'
import type { PhaseNetwork } from '../p2p/index.ts'
import type { ExecutorSet } from '../executors.ts'
import type { SignerClient } from '../signer-client.ts'
import { partOf, type Part } from './parts.ts'

/** Deadline of the runtime question to the executor. */
export const RUNTIME_TIMEOUT_MS = 2000

/** What GetNodeInfo and GET /v1/node report (the shape nodeInfoJson takes), with this network's counters. */
export interface NodeInfo extends NodeInfoLike {
  network: ReturnType<PhaseNetwork['counters']> | undefined
}

export interface Runtime {
  name: string
  version: string
}

export interface RuntimePart extends Part {
  /** The executors' runtime name and version (asked once it answers, then kept). */
  runtime: () => Promise<Runtime>
}

/**
 * The executors' runtime name and version: from an executor's last polled status when one has
 * answered, else asked of each executor in turn (0 first) until one answers. Not of executor 0
 * alone: at start-up executor 1 may serve jobs while executor 0 is not listening yet, and a job's
 * answer (its capability record), GetNodeInfo and runtime-pinned jobs need the runtime.
 */
export function startRuntimeInfo (config: Pick<NodeConfig, 'runtimeDir'>, executors?: Pick<ExecutorSet, 'views' | 'size'>): RuntimePart {
  const clients = new Map<number, GrpcClient<typeof ExecutorService>>()
  const clientOf = (index: number): GrpcClient<typeof ExecutorService> => {
    let c = clients.get(index)
    if (c === undefined) {
      c = createGrpcClient(ExecutorService, executorAddress(config.runtimeDir, index), { timeoutMs: RUNTIME_TIMEOUT_MS })
      clients.set(index, c)
    }
    return c
  }
  let known: Runtime | undefined
  const runtime = async (): Promise<Runtime> => {
    if (known !== undefined) return known
    const polled = executors?.views().find((v) => v.status !== undefined && v.status.runtimeName !== '')?.status
    if (polled !== undefined) return (known = { name: polled.runtimeName, version: polled.runtimeVersion })
    let lastError: unknown
    for (let index = 0; index < Math.max(1, executors?.size ?? 1); index++) {
      try {
        const s = await clientOf(index).getStatus({})
        return (known = { name: s.runtimeName, version: s.runtimeVersion })
      } catch (err) {
        lastError = err
      }
    }
    throw lastError
  }
  return { runtime, ...partOf(() => { for (const c of clients.values()) c.close() }) }
}

export interface NodeInfoComponents {
  signer: Pick<SignerClient, 'publicKey'>
  executors: Pick<ExecutorSet, 'size'>
  runtime: () => Promise<Runtime>
  network: Pick<PhaseNetwork, 'counters'> | undefined
}

/** The node's info, read afresh at each call (executors come and go, counters move). */
export function nodeInfo (components: NodeInfoComponents, peerId: string): () => Promise<NodeInfo> {
  const { signer, executors, runtime, network } = components
  return async () => {
    const r = await runtime()
    return { peerId, receiptPublicKey: await signer.publicKey(), version: VERSION, executors: executors.size, runtimeName: r.name, runtimeVersion: r.version, network: network?.counters() }
  }
}
