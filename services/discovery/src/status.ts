/**
 * The node's status (GetNodeStatus, GET /v1/status, `phase node status`): its processes with
 * pid, versions, memory and load, its queue and its peers. Kept apart from the discovery
 * process so the CLI can format it without loading the node.
 */
import type { ProcessInfo } from '@phase-network/rpc/rpc/v1'

/** One process of the node, as GetNodeStatus and GET /v1/status report it. */
export interface NodeProcessStatus {
  /** discovery, signer or executor. */
  name: string
  index: number
  /** up; starting (executors, before they first answer); down when it does not answer. */
  state: string
  process?: Omit<ProcessInfo, '$typeName'> | undefined
  running: number
  queued: number
  completed: bigint
  restarts: number
}

/** What GetNodeStatus and GET /v1/status report. */
export interface NodeStatus {
  peerId: string
  version: string
  processes: NodeProcessStatus[]
  jobsInFlight: number
  queueDepth: number
  peers: number
  p2pEnabled: boolean
  jobsByStatus: Record<string, bigint>
}

/** NodeStatus as JSON (snake_case keys, numbers). */
export function nodeStatusJson (s: NodeStatus): Record<string, unknown> {
  return {
    peer_id: s.peerId,
    version: s.version,
    processes: s.processes.map((p) => ({
      name: p.name,
      index: p.index,
      state: p.state,
      pid: p.process?.pid ?? null,
      started_at: p.process === undefined ? null : new Date(Number(p.process.startedAtMs)).toISOString(),
      version: p.process?.version ?? null,
      node_version: p.process?.nodeVersion ?? null,
      rss_bytes: p.process === undefined ? null : Number(p.process.rssBytes),
      running: p.running,
      queued: p.queued,
      completed: Number(p.completed),
      restarts: p.restarts
    })),
    jobs_in_flight: s.jobsInFlight,
    queue_depth: s.queueDepth,
    peers: s.peers,
    p2p_enabled: s.p2pEnabled,
    jobs_by_status: Object.fromEntries(Object.entries(s.jobsByStatus).map(([k, v]) => [k, Number(v)]))
  }
}
