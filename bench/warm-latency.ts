/**
 * Focused micro-bench: warm local job latency through the public gRPC API (signed receipt,
 * hash only), the figure the receipt log must not make worse. `node --no-liftoff bench/warm-latency.ts [N]`.
 * Prints p50/p99 and throughput at 64 in flight, and beside them the 3-process shape's floor measured
 * in the same run (as bench/run.ts: 3 bare grpc-js round trips + the worker hop + instantiate/run, and the
 * bare shape run end to end, shape-chain.ts, whose p99 is the p99 floor), and the same jobs as
 * messages on one SubmitJobStream (as PhaseClient sends them); the bare shape and the node's two
 * paths are timed in turns (stats.ts timeInterleaved);
 * with PHASE_BENCH_CONFIG (JSON) merged into the node config.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { median, percentile, fmtMs } from './stats.ts'
import { bareGrpcRoundTrips, bareInstantiateRun, bareWorkerRoundTrips } from './floors.ts'
import { startGuardedChain, startShapeChain } from './shape-chain.ts'
import { streamedClient, timeLocalPaths } from './streamed.ts'
import { cpuPerJobInTurns, formatCpu, total } from './cpu-per-job.ts'

const N = Number(process.argv[2] ?? 3000)
const enc = new TextEncoder()
const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const helloHash = contentHash(hello)
const manifest = (): Uint8Array => enc.encode(JSON.stringify({ version: 1, module_hash: helloHash, nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
const config = process.env.PHASE_BENCH_CONFIG === undefined ? {} : JSON.parse(process.env.PHASE_BENCH_CONFIG) as Record<string, unknown>
const grpcFloor = median(await bareGrpcRoundTrips(N))
const workerFloor = median(await bareWorkerRoundTrips(N))
const wasmFloor = median(await bareInstantiateRun(hello, ['Hello, World'], N))
const shape = 3 * grpcFloor + workerFloor + wasmFloor
const chain = await startShapeChain(join(ROOT, 'examples/hello/hello.wasm'))
const guarded = await startGuardedChain(join(ROOT, 'examples/hello/hello.wasm'), manifest).catch(async (err: unknown) => { await chain.stop(); throw err })
// The chains' processes are stopped whatever happens to the node.
const node = await startTestNode({ executors: 2, config }).catch(async (err: unknown) => { await Promise.allSettled([chain.stop(), guarded.stop()]); throw err })
const client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 })
const streamed = streamedClient(node.grpc)
try {
  // The bare shape, unary calls and the stream (as PhaseClient sends jobs) in turns
  // (streamed.ts timeLocalPaths).
  const { chain: bare, chainStream: bareStream, unary: warm, stream: onStream, guarded: guardedStream } = await timeLocalPaths(chain, client, streamed, () => ({ manifestJson: manifest() }), hello, N, 300, guarded)
  const [nodeCpu, guardedCpu, chainCpu] = await cpuPerJobInTurns([
    { pids: [...node.procs].map(([name, p]) => [name, p.child.pid!]), call: async () => await streamed.client.submitJob({ manifestJson: manifest() }) },
    { pids: guarded.pids, call: async () => await guarded.streamCall() },
    { pids: chain.pids, call: async () => await chain.streamCall() }], Math.max(2000, N))
  // Every one of those node jobs went on the stream (a refusal would measure the unary call).
  streamed.check(2 + 300 + onStream.length + nodeCpu.jobs)
  let done = 0
  const end = performance.now() + 3000
  const t0 = performance.now()
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (performance.now() < end) { await client.submitJob({ manifestJson: manifest() }); done++ }
  }))
  const rate = done / ((performance.now() - t0) / 1000)
  process.stdout.write(`warm job p50 ${fmtMs(median(warm))}  p99 ${fmtMs(percentile(warm, 99))}  throughput(64 in flight) ${rate.toFixed(0)} jobs/s  (N=${warm.length})\n`)
  process.stdout.write(`shape floor ${fmtMs(shape)} (grpc round trip ${fmtMs(grpcFloor)}, worker hop ${fmtMs(workerFloor)}, instantiate+run ${fmtMs(wasmFloor)})  p50/floor ${(median(warm) / shape).toFixed(2)}×\n`)
  process.stdout.write(`bare shape run end to end (shape-chain.ts), unary, in turns with the node: p50 ${fmtMs(median(bare))}  p99 ${fmtMs(percentile(bare, 99))}  p50/chain ${(median(warm) / median(bare)).toFixed(2)}×  p99/chain ${(percentile(warm, 99) / percentile(bare, 99)).toFixed(2)}×\n`)
  process.stdout.write(`on SubmitJobStream: p50 ${fmtMs(median(onStream))}  p99 ${fmtMs(percentile(onStream, 99))}; the bare shape's own stream: p50 ${fmtMs(median(bareStream))}  p99 ${fmtMs(percentile(bareStream, 99))}  p50/chain ${(median(onStream) / median(bareStream)).toFixed(2)}×  p99/chain ${(percentile(onStream, 99) / percentile(bareStream, 99)).toFixed(2)}× (beside the unary chain ${(median(onStream) / median(bare)).toFixed(2)}×)\n`)
  process.stdout.write(`the guarded shape (the bare one doing discovery's and the signer's guarantee work in plain code) on its stream: p50 ${fmtMs(median(guardedStream))}  p99 ${fmtMs(percentile(guardedStream, 99))}  guarded/bare ${(median(guardedStream) / median(bareStream)).toFixed(2)}×  node/guarded ${(median(onStream) / median(guardedStream)).toFixed(2)}×\n`)
  process.stdout.write(`CPU per job on the stream, one at a time (bench/cpu-per-job.ts): node ${formatCpu(nodeCpu)}; guarded shape ${formatCpu(guardedCpu)}; bare shape ${formatCpu(chainCpu)}; node/bare ${(total(nodeCpu) / total(chainCpu)).toFixed(2)}×, guarded/bare ${(total(guardedCpu) / total(chainCpu)).toFixed(2)}×, node/guarded ${(total(nodeCpu) / total(guardedCpu)).toFixed(2)}×\n`)
} finally {
  client.close()
  streamed.client.close()
  await Promise.allSettled([node.stop(), chain.stop(), guarded.stop()])
}
