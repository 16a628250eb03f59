/**
 * The node's live figures, for Prometheus (GET /metrics) and for the status report
 * (GetNodeStatus, GET /v1/status, `phase node status`): jobs, executor queues, processes, peers.
 */
import { VERSION, processInfo } from '@phase-network/rpc'
import type { ExecutorSet } from '../executors.ts'
import type { JobRunner } from '../jobs.ts'
import type { NodeMetrics } from '../metrics.ts'
import type { PhaseNetwork } from '../p2p/index.ts'
import type { SignerClient } from '../signer-client.ts'
import type { NodeProcessStatus, NodeStatus } from '../status.ts'

export interface MetricsStatusComponents {
  metrics: Pick<NodeMetrics, 'bind' | 'jobsByStatus'>
  jobs: Pick<JobRunner, 'running'>
  executors: Pick<ExecutorSet, 'queueDepth' | 'views'>
  signer: Pick<SignerClient, 'status'>
  network: Pick<PhaseNetwork, 'counters' | 'load'> | undefined
}

/** Connects the metrics' gauges to the live node; returns the status report's source. */
export function bindMetricsStatus (components: MetricsStatusComponents, peerId: string): () => Promise<NodeStatus> {
  const { metrics, jobs, executors, network } = components
  metrics.bind({
    jobsInFlight: () => jobs.running,
    queueDepth: () => executors.queueDepth(),
    executors: () => executors.views(),
    peers: () => network?.counters().peers,
    network: () => network?.counters(),
    peerLoad: () => network?.load()
  })
  return async () => await nodeStatus(components, peerId)
}

/** The status report: each process (discovery, signer, executors) with its load, and the node's totals. */
async function nodeStatus (components: MetricsStatusComponents, peerId: string): Promise<NodeStatus> {
  const { metrics, jobs, executors, signer, network } = components
  const signerStatus = await signer.status().catch(() => undefined)
  const byStatus = await metrics.jobsByStatus()
  const self = processInfo() as NonNullable<NodeProcessStatus['process']>
  return {
    peerId,
    version: VERSION,
    processes: [
      { name: 'discovery', index: 0, state: 'up', process: self, running: jobs.running, queued: 0, completed: BigInt(Object.values(byStatus).reduce((a, b) => a + b, 0)), restarts: self.restarts },
      { name: 'signer', index: 0, state: signerStatus === undefined ? 'down' : 'up', process: signerStatus?.process, running: 0, queued: 0, completed: signerStatus?.signedReceipts ?? 0n, restarts: signerStatus?.process?.restarts ?? 0 },
      ...executors.views().map((e): NodeProcessStatus => ({
        name: 'executor', index: e.index, state: e.state, process: e.up ? e.status?.process : undefined,
        running: e.status?.running ?? 0, queued: e.status?.queued ?? 0, completed: e.status?.completedJobs ?? 0n,
        // pm2's count survives a restart of discovery; discovery's own (new pids seen) covers runs without pm2.
        restarts: Math.max(e.status?.process?.restarts ?? 0, e.restarts)
      }))
    ],
    jobsInFlight: jobs.running,
    queueDepth: executors.queueDepth(),
    peers: network?.counters().peers ?? 0,
    p2pEnabled: network !== undefined,
    jobsByStatus: Object.fromEntries(Object.entries(byStatus).map(([k, v]) => [k, BigInt(v)]))
  }
}
