/**
 * Finding and calling the local node: `--api`, else PHASE_API, else the address the node
 * itself would use (same configuration resolution as plasmd: PHASE_CONFIG, /etc/phase/plasmd.json,
 * embedded defaults).
 */
import { NodeService } from '../../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/src/grpc/index.ts'
import { loadConfig } from '../../services/core/src/config.ts'
import { PhaseClient } from '../../sdk/ts/src/index.ts'

export interface Connection {
  client: GrpcClient<typeof NodeService>
  address: string
  metadata: Record<string, string>
}

/** Where the node is and the token to use, resolved as the node itself would. */
export function resolveNode (options: { api?: string, token?: string }, env: Readonly<Record<string, string | undefined>>): { address: string, token: string | undefined } {
  let address = options.api ?? env.PHASE_API
  let token = options.token ?? env.PHASE_API_TOKEN
  if (address === undefined) {
    const config = loadConfig({ env })
    address = config.api.grpc
    token ??= config.api.token ?? undefined
  }
  return { address, token }
}

/** The SDK client for the node. */
export function connect (options: { api?: string, token?: string }, env: Readonly<Record<string, string | undefined>>): PhaseClient {
  return new PhaseClient(resolveNode(options, env))
}

/** A raw gRPC client of the node's API (for node info and peers). */
export function connectRaw (options: { api?: string, token?: string }, env: Readonly<Record<string, string | undefined>>): Connection {
  const { address, token } = resolveNode(options, env)
  const client = createGrpcClient(NodeService, address, { maxMessageBytes: 1024 * 1024 * 1024 })
  return { client, address, metadata: token !== undefined ? { authorization: `Bearer ${token}` } : {} }
}
