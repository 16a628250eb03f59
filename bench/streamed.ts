/**
 * A client that sends SubmitJob as messages on SubmitJobStream, as PhaseClient does, with a count
 * of the calls that took the stream. createGrpcClient quietly sends unary calls once a server has
 * turned the stream down (an older node): a "stream" row would then measure the unary call.
 */
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../services/core/rpc/src/index.ts'
import type { GuardedChain, ShapeChain } from './shape-chain.ts'
import { timeInterleaved } from './stats.ts'

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

export interface LocalPaths {
  /** The bare shape: a unary call, a message on its stream. */
  chain: number[]
  chainStream: number[]
  /** The node: a unary SubmitJob, a message on SubmitJobStream (as PhaseClient sends jobs). */
  unary: number[]
  stream: number[]
  /** The guarded shape (shape-chain.ts startGuardedChain) on its stream. */
  guarded: number[]
}

/**
 * Warm local jobs on the node's two paths, the bare shape's two and the guarded shape's stream,
 * timed in turns (stats.ts timeInterleaved): like with like, on a machine whose speed drifts over a run. The first job
 * sends the module; every stream call is checked to have gone on the stream. ms per job.
 */
export async function timeLocalPaths (chain: ShapeChain, client: GrpcClient<typeof NodeService>, streamed: StreamedClient, job: () => { manifestJson: Uint8Array }, module: Uint8Array, n: number, warmup: number, guarded: GuardedChain): Promise<LocalPaths> {
  await client.submitJob({ ...job(), module })
  await streamed.client.submitJob(job())
  await streamed.client.submitJob(job())
  streamed.check(2)
  const t = await timeInterleaved(n, warmup, {
    chain: async () => await chain.call(),
    chainStream: async () => await chain.streamCall(),
    unary: async () => await client.submitJob(job()),
    stream: async () => await streamed.client.submitJob(job()),
    guarded: async () => await guarded.streamCall()
  })
  streamed.check(2 + warmup + t.stream.length)
  return t
}
