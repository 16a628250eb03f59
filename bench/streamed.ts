/**
 * A client that sends SubmitJob as messages on SubmitJobStream, as PhaseClient does, with a count
 * of the calls that took the stream. createGrpcClient quietly sends unary calls once a server has
 * turned the stream down (an older node): a "stream" row would then measure the unary call.
 */
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../services/core/rpc/src/index.ts'

export interface StreamedClient {
  client: GrpcClient<typeof NodeService>
  /** Throws unless every one of `calls` calls so far went on the stream. */
  check: (calls: number) => void
}

export function streamedClient (address: string): StreamedClient {
  let streamed = 0
  // Asked once per call while the stream is usable; not asked at all once it was turned down.
  const client = createGrpcClient(NodeService, address, { maxMessageBytes: 256 << 20, multiplex: () => { streamed++; return true } })
  return {
    client,
    check: (calls) => {
      // The call that met the refusal was counted, then went unary: a refusal shows as a shortfall.
      if (streamed !== calls) throw new Error(`at least ${calls - streamed} of ${calls} calls to ${address} did not go on SubmitJobStream: the stream rows would measure the unary call`)
    }
  }
}
