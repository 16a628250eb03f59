/**
 * A job with a big input file (50 MB by default), locally: `node bench/input-file.ts [MB]`.
 * A real node (1 executor) runs test/programs/c/wc.wasm, which reads /in/x in 64 KiB reads.
 * Rows, each beside anchors measured in the same run: the same job with a 1-byte input, and
 * node:crypto's sha256 of the file's bytes (the least work any node must do with them).
 *  * first send over gRPC (bytes in SubmitJob: hashed, cached on disk, sent to the executor);
 *  * hash-only resubmission (the bytes come from the node's input cache);
 *  * HTTP: raw upload (PUT /v1/blobs/<hash>) of a new file, then the JSON job naming it;
 *  * PSS of discovery and of the executor (from /proc/PID/smaps_rollup): idle after a warm-up
 *    job, peak during the big jobs, and after them.
 */
import { createHash, randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { startTestNode } from '../test/helpers/node-harness.ts'
import { memoryOf, sampler } from '../test/helpers/proc-memory.ts'
import { printTable } from './stats.ts'
import { MB, SIZE, module, moduleHash, rows, row, ms, mib, bigFile } from './input-file-setup.ts'

const enc = new TextEncoder()

const node = await startTestNode({ executors: 1, config: { limits: { max_timeout_ms: 120_000 } } })
const client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 1024 * 1024 * 1024 })
try {
  const pids = { discovery: node.procs.get('discovery')!.child.pid!, executor: node.procs.get('executor-0')!.child.pid! }
  const job = async (inputs: Array<{ path: string, hash: string }>, blobs: Array<{ hash: string, data: Uint8Array }>, withModule = false): Promise<number> => {
    const m = { version: 1, module_hash: moduleHash, nonce: randomBytes(16).toString('hex'), inputs, limits: { timeout_ms: 120_000 } }
    const t = performance.now()
    const r = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module: withModule ? module : undefined, inputs: blobs }, { timeoutMs: 300_000 })
    const took = performance.now() - t
    if (r.status !== 'ok') throw new Error(`job ended ${r.status}: ${new TextDecoder().decode(r.stderr)}`)
    return took
  }
  // Warm-up: module cached and compiled, a tiny input; then the idle figures.
  const tiny = Buffer.from('x\n')
  await job([{ path: '/in/x', hash: contentHash(tiny) }], [{ hash: contentHash(tiny), data: tiny }], true)
  const tinyOnce = Buffer.from('y\n')
  const anchorJob = await job([{ path: '/in/x', hash: contentHash(tinyOnce) }], [{ hash: contentHash(tinyOnce), data: tinyOnce }])
  const idle = { discovery: memoryOf(pids.discovery), executor: memoryOf(pids.executor) }

  const data = bigFile(SIZE)
  let t = performance.now()
  const hash = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const hashMs = performance.now() - t
  const peak = sampler(() => [pids.discovery, pids.executor], 50)
  const first = await job([{ path: '/in/x', hash }], [{ hash, data }])
  const again = await job([{ path: '/in/x', hash }], [])
  // HTTP: a second file, uploaded raw, then named by hash in a JSON job.
  const other = bigFile(SIZE)
  const otherHash = contentHash(other)
  t = performance.now()
  const put = await fetch(`http://${node.http}/v1/blobs/${otherHash}`, { method: 'PUT', body: other })
  if (put.status !== 200) throw new Error(`upload answered ${put.status}: ${await put.text()}`)
  const uploadMs = performance.now() - t
  t = performance.now()
  const res = await fetch(`http://${node.http}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ manifest: { version: 1, module_hash: moduleHash, nonce: randomBytes(16).toString('hex'), inputs: [{ path: '/in/x', hash: otherHash }], limits: { timeout_ms: 120_000 } } }) })
  const httpJobMs = performance.now() - t
  if (res.status !== 200 || (await res.json() as { status: string }).status !== 'ok') throw new Error(`HTTP job answered ${res.status}`)
  peak.stop()
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const after = { discovery: memoryOf(pids.discovery), executor: memoryOf(pids.executor) }

  row(`job, ${MB} MB input sent with it (gRPC, end to end)`, ms(first), `${ms(anchorJob)} (1-byte input)`, `${(first / anchorJob).toFixed(0)}x`)
  row(`job, ${MB} MB input by hash (cached)`, ms(again), `${ms(anchorJob)} (1-byte input)`, `${(again / anchorJob).toFixed(0)}x`)
  row(`HTTP PUT /v1/blobs (${MB} MB raw)`, ms(uploadMs), `${ms(hashMs)} (sha256 of it)`, `${(uploadMs / hashMs).toFixed(1)}x`)
  row(`HTTP job naming the uploaded file`, ms(httpJobMs), `${ms(anchorJob)} (1-byte input, gRPC)`, `${(httpJobMs / anchorJob).toFixed(0)}x`)
  row('sha256 of the file (node:crypto, anchor)', ms(hashMs))
  for (const name of ['discovery', 'executor'] as const) {
    row(`PSS ${name}: idle / peak / after`, `${mib(idle[name]?.pss)} / ${mib(peak.peak.get(pids[name])?.pss)} / ${mib(after[name]?.pss)}`)
  }
  printTable(rows)
} catch (err) {
  for (const name of ['executor-0', 'discovery']) process.stderr.write(`--- ${name}\n${node.log(name).split('\n').slice(-15).join('\n')}\n`)
  throw err
} finally {
  client.close()
  await node.stop()
}
