/**
 * CPU time per warm job in each process of the shape (client, discovery, executors, signer),
 * from /proc/PID/stat — a figure that holds on a shared machine where wall times do not: on
 * 2 cores, throughput is bound by the sum. `node --no-liftoff bench/job-cost.ts [jobs] [executors] [inFlight]`;
 * PHASE_CPU_PROF=dir writes a V8 CPU profile of every process into dir.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { processCpuMs } from './cpu-per-job.ts'

const JOBS = Number(process.argv[2] ?? 5000)
const EXECUTORS = Number(process.argv[3] ?? 2)
const IN_FLIGHT = Number(process.argv[4] ?? 64)
/** utime + stime of a process, µs. */
const cpuUs = (pid: number): number => processCpuMs(pid) * 1000

const enc = new TextEncoder()
const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const helloHash = contentHash(hello)
const manifest = (): Uint8Array => enc.encode(JSON.stringify({ version: 1, module_hash: helloHash, nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
const prof = process.env.PHASE_CPU_PROF
const node = await startTestNode({ executors: EXECUTORS, env: prof === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${prof}` } })
const client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 })
try {
  await client.submitJob({ manifestJson: manifest(), module: hello })
  for (let i = 0; i < 500; i++) await client.submitJob({ manifestJson: manifest() })
  const pids = [...node.procs.values()].map(p => ({ name: p.name, pid: p.child.pid! }))
  const before = pids.map(p => cpuUs(p.pid))
  const self0 = process.cpuUsage()
  const t0 = performance.now()
  let started = 0
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (started++ < JOBS) await client.submitJob({ manifestJson: manifest() })
  }))
  const wall = performance.now() - t0
  const self = process.cpuUsage(self0)
  const rows = pids.map((p, i) => [p.name, (cpuUs(p.pid) - before[i]!) / JOBS] as const)
  rows.unshift(['client', (self.user + self.system) / JOBS] as const)
  for (const [name, us] of rows) process.stdout.write(`${name.padEnd(12)} ${us.toFixed(0).padStart(5)} µs CPU/job\n`)
  process.stdout.write(`${'total'.padEnd(12)} ${rows.reduce((a, [, us]) => a + us, 0).toFixed(0).padStart(5)} µs CPU/job; ${(JOBS / wall * 1000).toFixed(0)} jobs/s wall (${IN_FLIGHT} in flight, ${EXECUTORS} executors)\n`)
} finally {
  client.close()
  await node.stop()
}
