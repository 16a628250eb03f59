/**
 * Finding and calling the local node: `--api`, else PHASE_API, else the address the node
 * itself would use (same configuration resolution as plasmd: PHASE_CONFIG, /etc/phase/plasmd.json,
 * embedded defaults).
 */
import { NodeService } from '../../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/src/grpc/index.ts'
import { loadConfig } from '../../services/core/src/config.ts'

export interface Connection {
  client: GrpcClient<typeof NodeService>
  address: string
  metadata: Record<string, string>
}

export function connect (options: { api?: string, token?: string }, env: Readonly<Record<string, string | undefined>>): Connection {
  let address = options.api ?? env.PHASE_API
  let token = options.token ?? env.PHASE_API_TOKEN
  if (address === undefined) {
    const config = loadConfig({ env })
    address = config.api.grpc
    token ??= config.api.token ?? undefined
  }
  const client = createGrpcClient(NodeService, address, { maxMessageBytes: 1024 * 1024 * 1024 })
  return { client, address, metadata: token !== undefined ? { authorization: `Bearer ${token}` } : {} }
}
