import { readFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { NodeService } from '../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/src/grpc/index.ts'
import { contentHash } from '../services/core/src/hash-node.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const h = contentHash(hello)
const node = await startTestNode({ executors: Number(process.argv[2] ?? 2) })
const nd = createGrpcClient(NodeService, node.grpc)
const man = () => new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: h, nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
await nd.submitJob({ manifestJson: man(), module: hello })
const ticks = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]) }
const pids = [...node.procs.entries()].map(([n, p]) => [n, p.child.pid!] as const)
const before = pids.map(([, p]) => ticks(p)); const selfBefore = process.cpuUsage()
let done = 0; const end = performance.now() + 3000; const t0 = performance.now()
await Promise.all(Array.from({ length: 64 }, async () => { while (performance.now() < end) { await nd.submitJob({ manifestJson: man() }); done++ } }))
const secs = (performance.now() - t0) / 1000
const after = pids.map(([, p]) => ticks(p)); const self = process.cpuUsage(selfBefore)
console.log('jobs/s', (done / secs).toFixed(0))
pids.forEach(([n], i) => console.log(n, 'cpu us/job', ((after[i]! - before[i]!) * 10000 / done).toFixed(0)))
console.log('client cpu us/job', ((self.user + self.system) / done).toFixed(0))
nd.close(); await node.stop()
