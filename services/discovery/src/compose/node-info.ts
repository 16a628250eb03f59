/**
 * What GetNodeInfo and GET /v1/node report: the node's identity and receipt key, its executors
 * and their runtime, and its network counters. The runtime is asked of the first executor once
 * it answers, then kept (every executor of a node runs the same build).
 */
import type { NodeInfoLike } from '@phase-network/rpc'
import { ExecutorService } from '@phase-network/rpc/executor/v1'
import { VERSION, createGrpcClient } from '@phase-network/rpc'
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

/** A client of executor 0 for its runtime name and version. */
export function startRuntimeInfo (config: Pick<NodeConfig, 'runtimeDir'>): RuntimePart {
  const client = createGrpcClient(ExecutorService, executorAddress(config.runtimeDir, 0), { timeoutMs: RUNTIME_TIMEOUT_MS })
  let known: Runtime | undefined
  const runtime = async (): Promise<Runtime> => {
    if (known === undefined) {
      const s = await client.getStatus({})
      known = { name: s.runtimeName, version: s.runtimeVersion }
    }
    return known
  }
  return { runtime, ...partOf(() => client.close()) }
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
