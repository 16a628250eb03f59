/**
 * The JSON faces of the node's identity and status (GetNodeInfo / GET /v1/node / `phase node
 * info`, GetNodeStatus / GET /v1/status / `phase node status --json`), built in one place so
 * the HTTP API and the CLI say the same thing with the same snake_case names as the gRPC
 * fields. Kept apart from the discovery process so a client can format them without loading it.
 */
import type { ProcessInfo } from './gen/phase/rpc/v1/rpc_pb.js'

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

/** The network counters of GetNodeInfo (numbers or the wire's uint64 bigints). */
export interface NetworkCountersLike {
  peers: number
  jobsIn: number | bigint
  jobsRefused: number | bigint
  jobsOut: number | bigint
  jobsOutFailed: number | bigint
  receiptsRefused: number | bigint
}

/** What GetNodeInfo and GET /v1/node report. */
export interface NodeInfoLike {
  peerId: string
  receiptPublicKey: string
  version: string
  executors: number
  runtimeName: string
  runtimeVersion: string
  network?: NetworkCountersLike | undefined
}

/** NodeInfo as JSON (snake_case keys, numbers); `network` is null off the network. */
export function nodeInfoJson (info: NodeInfoLike): Record<string, unknown> {
  const n = info.network
  return {
    peer_id: info.peerId,
    receipt_public_key: info.receiptPublicKey,
    version: info.version,
    executors: info.executors,
    runtime: { name: info.runtimeName, version: info.runtimeVersion },
    network: n === undefined
      ? null
      : { peers: n.peers, jobs_in: Number(n.jobsIn), jobs_refused: Number(n.jobsRefused), jobs_out: Number(n.jobsOut), jobs_out_failed: Number(n.jobsOutFailed), receipts_refused: Number(n.receiptsRefused) }
  }
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
