/**
 * `npm run bench`: the node's speed beside floors measured in the same run (DESIGN §7).
 * Figures are medians unless named; ratios are value / floor. Run with nothing else busy.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes, generateKeyPairSync, verify as nodeVerify } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { createReceiptSigner } from '../services/core/protocol/src/crypto/sign.ts'
import { verifyReceipt } from '../services/core/protocol/src/crypto/verify.ts'
import { RECEIPT_DOMAIN, signingBytes } from '../services/core/protocol/src/crypto/domain.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { bareGrpcRoundTrips, bareInstantiateRun, bareColdRun, bareWorkerRoundTrips } from './floors.ts'
import { startGuardedChain, startShapeChain } from './shape-chain.ts'
import { streamedClient, timeLocalPaths } from './streamed.ts'
import { cpuPerJobInTurns, formatCpu, total } from './cpu-per-job.ts'
import { median, percentile, printTable, fmtMs, type Row } from './stats.ts'
import { kernelRows } from './kernels.ts'
import { runtimeRows } from './runtimes.ts'
import { networkRows } from './network.ts'
import { failoverRows } from './failover.ts'
import { verifyRows } from './verify.ts'
import { sdkClientRows } from './sdk-clients.ts'
import { startupRows } from './startup.ts'
import { phpRows } from './php.ts'
import { memoryRows } from './memory.ts'
import { compileWat } from '../test/helpers/wat.ts'

const quick = process.argv.includes('--quick')
const N = quick ? 300 : 3000
const enc = new TextEncoder()
const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const helloHash = contentHash(hello)
const rows: Row[] = []
const row = (metric: string, value: string, floor = '', ratio = '', target = ''): void => { rows.push({ metric, value, floor, ratio, target }) }

function manifest (extra: Record<string, unknown> = {}): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: helloHash, nonce: randomBytes(16).toString('hex'), args: ['Hello, World'], ...extra }))
}

/** hello with a random custom section: same code, a new hash, so nothing is cached. */
function variant (): Uint8Array {
  const payload = randomBytes(16)
  const name = enc.encode('bench')
  const body = new Uint8Array([name.length, ...name, ...payload])
  return new Uint8Array([...hello, 0, body.length, ...body])
}

process.stderr.write('floors…\n')
const grpcFloor = median(await bareGrpcRoundTrips(N))
const wasmFloor = median(await bareInstantiateRun(hello, ['Hello, World'], N))
const coldFloor = median(await bareColdRun(Array.from({ length: 30 }, variant), ['Hello, World']))
const workerFloor = median(await bareWorkerRoundTrips(N))

process.stderr.write('warm latency…\n')
{
  const bareChain = await startShapeChain(join(ROOT, 'examples/hello/hello.wasm'))
  const guarded = await startGuardedChain(join(ROOT, 'examples/hello/hello.wasm'), () => manifest()).catch(async (err: unknown) => { await bareChain.stop(); throw err })
  // The chains' processes are stopped whatever happens to the node.
  const node = await startTestNode({ executors: 2 }).catch(async (err: unknown) => { await Promise.allSettled([bareChain.stop(), guarded.stop()]); throw err })
  const client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 })
  // As PhaseClient sends jobs: messages on one SubmitJobStream, no HTTP/2 stream per job.
  const streamed = streamedClient(node.grpc)
  try {
    // The bare shape and the node's two paths in turns (streamed.ts timeLocalPaths).
    const { chain, chainStream, unary: warm, stream: onStream, guarded: guardedStream } = await timeLocalPaths(bareChain, client, streamed, () => ({ manifestJson: manifest() }), hello, N, 200, guarded)
    const floor = grpcFloor + wasmFloor
    row('warm job p50 (gRPC API, signed, hash only)', fmtMs(median(warm)), fmtMs(floor), `${(median(warm) / floor).toFixed(1)}×`, '≤ 1 ms')
    row('warm job p99', fmtMs(percentile(warm, 99)), '', '', '≤ 3 ms')
    // The fixed shape's own floor: client→discovery, discovery→executor, discovery→signer are
    // three cross-process round trips, plus the executor's hop to its worker thread.
    const shape = 3 * grpcFloor + workerFloor + wasmFloor
    row('  beside the 3-process shape floor', fmtMs(median(warm)), fmtMs(shape), `${(median(warm) / shape).toFixed(2)}×`, '≤ 1.3×')
    // The same shape run end to end with nothing of the node's in it (shape-chain.ts), timed in
    // turns with the node: its p99 holds the processes' own pauses, which a sum of isolated
    // round trips leaves out.
    row('  beside the bare shape run end to end, p50', fmtMs(median(warm)), fmtMs(median(chain)), `${(median(warm) / median(chain)).toFixed(2)}×`, '≤ 1.3×')
    row('  beside the bare shape run end to end, p99', fmtMs(percentile(warm, 99)), fmtMs(percentile(chain, 99)), `${(percentile(warm, 99) / percentile(chain, 99)).toFixed(2)}×`, '≤ 3 ms')
    // Beside the bare shape's own stream face: like with like (a message on a stream is the
    // cheaper client hop: ~0.7 ms less than a grpc-js unary call in the bare shape on this host).
    row('warm job on SubmitJobStream (as PhaseClient), p50 beside the bare shape on a stream', fmtMs(median(onStream)), fmtMs(median(chainStream)), `${(median(onStream) / median(chainStream)).toFixed(2)}×`, '≤ 1 ms, ≤ 1.3×')
    row('  p99 beside the bare shape\'s p99 on a stream', fmtMs(percentile(onStream, 99)), fmtMs(percentile(chainStream, 99)), `${(percentile(onStream, 99) / percentile(chainStream, 99)).toFixed(2)}×`, '≤ 3 ms')
    // The same shape doing discovery's and the signer's per-job guarantee work in plain code
    // (shape-chain.ts startGuardedChain; the executor bare): a lower bound of what keeping those
    // guarantees costs on this shape, apart from how the node is built. The node beside it is
    // the node's own overhead plus the executor's guarantees; the CPU rows split it by process
    // (discovery beside gfront, the signer beside gsign are like with like).
    row('  guarded shape on a stream (discovery\'s and the signer\'s guarantee work in plain code), p50 beside the bare shape', fmtMs(median(guardedStream)), fmtMs(median(chainStream)), `${(median(guardedStream) / median(chainStream)).toFixed(2)}×`, '')
    row('  node on SubmitJobStream, p50 beside the guarded shape', fmtMs(median(onStream)), fmtMs(median(guardedStream)), `${(median(onStream) / median(guardedStream)).toFixed(2)}×`, '')
    // Where the gap is: CPU per job in each process, the node's beside the bare shape's
    // (cpu-per-job.ts; sent one at a time, a job's latency is mostly this CPU, process after process).
    const [nodeCpu, guardedCpu, chainCpu] = await cpuPerJobInTurns([
      { pids: [...node.procs].map(([name, p]) => [name, p.child.pid!]), call: async () => await streamed.client.submitJob({ manifestJson: manifest() }) },
      { pids: guarded.pids, call: async () => await guarded.streamCall() },
      { pids: bareChain.pids, call: async () => await bareChain.streamCall() }], quick ? 2000 : 4000)
    // Every one of those node jobs went on the stream (a refusal would measure the unary call).
    streamed.check(2 + 200 + onStream.length + nodeCpu.jobs)
    row('  CPU per job on a stream, by process (µs): node', formatCpu(nodeCpu), `bare shape: ${formatCpu(chainCpu)}`, `${(total(nodeCpu) / total(chainCpu)).toFixed(2)}×`, '')
    row('  guarded shape (discovery\'s and the signer\'s guarantee work in plain code), CPU per job', formatCpu(guardedCpu), `bare shape: ${formatCpu(chainCpu)}`, `${(total(guardedCpu) / total(chainCpu)).toFixed(2)}×`, '')
    row('  node beside the guarded shape, CPU per job', formatCpu(nodeCpu), `guarded: ${total(guardedCpu).toFixed(0)} µs`, `${(total(nodeCpu) / total(guardedCpu)).toFixed(2)}×`, '')
    const cold: number[] = []
    for (let i = 0; i < 20; i++) {
      const v = variant()
      const t = performance.now()
      await client.submitJob({ manifestJson: manifest({ module_hash: contentHash(v) }), module: v })
      cold.push(performance.now() - t)
    }
    row('cold first job (new module, compile included)', fmtMs(median(cold)), fmtMs(coldFloor + grpcFloor), `${(median(cold) / (coldFloor + grpcFloor)).toFixed(1)}×`, '')
    const loop = await variantLoop()
    const over: number[] = []
    for (let i = 0; i < 10; i++) {
      const res = await client.submitJob({ manifestJson: manifest({ module_hash: contentHash(loop), limits: { timeout_ms: 100 } }), module: loop })
      const receipt = JSON.parse(new TextDecoder().decode(res.receiptJson)) as { wall_time_us: number, status: string }
      if (receipt.status !== 'timeout') throw new Error(`expected timeout, got ${receipt.status}`)
      over.push(receipt.wall_time_us / 1000 - 100)
    }
    row('timeout overshoot past a 100 ms deadline', fmtMs(median(over)), '0', `max ${fmtMs(Math.max(...over))}`, '≤ 10 ms')
  } finally {
    streamed.client.close()
    client.close()
    await Promise.allSettled([node.stop(), bareChain.stop(), guarded.stop()])
  }
}

process.stderr.write('throughput…\n')
// Nodes with 1, 2 and 4 executors up side by side (an idle node costs next to nothing), warmed,
// then measured in interleaved rounds (1, 2, 4, 1, 2, 4, …), medians compared: a machine whose speed drifts
// during the bench (shared hosts) moves every count alike, instead of whichever ran last.
{
  const counts = [1, 2, 4]
  const rounds = quick ? 3 : 7
  const nodes = await Promise.all(counts.map(async (executors) => await startTestNode({ executors })))
  const clients = nodes.map((node) => createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 }))
  try {
    for (const client of clients) await client.submitJob({ manifestJson: manifest(), module: hello })
    // Warm each node first (its processes' JIT): a node with more executors warms each more slowly.
    for (const client of clients) await throughput(client, 64, quick ? 500 : 3000)
    const rates = counts.map(() => [] as number[])
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < counts.length; i++) rates[i]!.push(await throughput(clients[i]!, 64, quick ? 400 : 1000))
    }
    const one = median(rates[0]!)
    counts.forEach((executors, i) => {
      const jobsPerSecond = median(rates[i]!)
      row(`throughput, ${executors} executor${executors > 1 ? 's' : ''} (64 in flight; median of ${rounds} interleaved rounds)`, `${jobsPerSecond.toFixed(0)} jobs/s`, executors === 1 ? `${(1000 / grpcFloor).toFixed(0)} rt/s` : `${one.toFixed(0)} jobs/s with 1`,
        executors === 1 ? '' : `${(jobsPerSecond / one).toFixed(2)}×`, executors === 2 ? '≥ 2000 jobs/s, ≥ 1.00×' : executors > 2 ? '≥ 1.00×' : '')
    })
  } finally {
    for (const client of clients) client.close()
    await Promise.all(nodes.map(async (node) => { await node.stop() }))
  }
}

process.stderr.write('SDK clients…\n')
for (const r of await sdkClientRows(quick)) rows.push(r)

process.stderr.write('signatures…\n')
{
  const signer = createReceiptSigner(randomBytes(32))
  const unsigned = {
    version: 1 as const, job_id: helloHash, nonce: 'a'.repeat(32), module_hash: helloHash, inputs_hash: helloHash,
    stdout_hash: helloHash, stdout_bytes: 13, stderr_hash: helloHash, stderr_bytes: 0, status: 'ok' as const, exit_code: 0,
    limits: { memory_bytes: 1 << 26, timeout_ms: 5000, output_bytes: 1 << 20 }, wall_time_us: 50, cpu_time_us: 40,
    started_at: '2026-11-23T00:00:00.000Z', finished_at: '2026-11-23T00:00:00.000Z',
    node: { peer_id: '12D3KooWCPNHFk6ufYBgFrJ9SWmteZFNRWTeuMPiQx6m19cfqmyp', public_key: signer.publicKey }, runtime: { name: 'v8-wasm', version: 'x' }
  }
  const M = quick ? 1000 : 5000
  let t = performance.now()
  let signed = signer.sign(unsigned)
  for (let i = 0; i < M; i++) signed = signer.sign({ ...unsigned, exit_code: i % 2 })
  const signRate = M / ((performance.now() - t) / 1000)
  t = performance.now()
  for (let i = 0; i < M / 5; i++) await verifyReceipt(signed.canonical, { publicKey: signer.publicKey })
  const verifyRate = (M / 5) / ((performance.now() - t) / 1000)
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const bytes = signingBytes(RECEIPT_DOMAIN, signed.receipt)
  const sig = (await import('node:crypto')).sign(null, bytes, privateKey)
  t = performance.now()
  for (let i = 0; i < M; i++) nodeVerify(null, bytes, publicKey, sig)
  const bareVerify = M / ((performance.now() - t) / 1000)
  row('sign receipts (schema check + JCS + ed25519)', `${signRate.toFixed(0)}/s`, '', '', '')
  row('verify receipts (portable verifier, full checks)', `${verifyRate.toFixed(0)}/s`, `${bareVerify.toFixed(0)}/s node:crypto bare`, '', '')
}

for (const r of await verifyRows(quick)) rows.push(r)
for (const r of await kernelRows(quick)) rows.push(r)
process.stderr.write('runtimes side by side…\n')
for (const r of await runtimeRows(quick, { grpc: grpcFloor, wasm: wasmFloor, cold: coldFloor })) rows.push(r)
for (const r of await networkRows(quick)) rows.push(r)
for (const r of await failoverRows(quick)) rows.push(r)
process.stderr.write('start-up…\n')
for (const r of await startupRows(quick)) rows.push(r)
process.stderr.write('php…\n')
for (const r of await phpRows(quick)) rows.push(r)
process.stderr.write('memory…\n')
for (const r of await memoryRows(quick)) rows.push(r)

process.stdout.write(`\nPhase bench — node ${process.version}, ${N} samples per latency figure\n\n`)
printTable(rows)

async function throughput (client: GrpcClient<typeof NodeService>, concurrency: number, ms: number): Promise<number> {
  let done = 0
  const end = performance.now() + ms
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await client.submitJob({ manifestJson: manifest() })
      done++
    }
  }))
  return done / ((performance.now() - t0) / 1000)
}

async function variantLoop (): Promise<Uint8Array> {
  return await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')
}
