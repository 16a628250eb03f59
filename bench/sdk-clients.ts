/**
 * Many SDK users at once (issue 11, point 4): 50 TS SDK clients (`sdk/ts` PhaseClient, each its
 * own channel) on one node with 2 executors, each submitting hello with its module bytes and a
 * pinned key, so every receipt is verified by the portable verifier (signature, job, outputs).
 * Beside it, the same run's anchor: the node's throughput to one raw gRPC client, 64 in flight,
 * verifying nothing. Both share the machine's 2 cores with the node: client-side verification
 * is part of the load, as it would be on one box.
 *
 *   node --no-liftoff bench/sdk-clients.ts [--quick]
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { PhaseClient, ManifestBuilder } from '../sdk/ts/src/index.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { printTable, type Row } from './stats.ts'

const CLIENTS = 50

export async function sdkClientRows (quick: boolean): Promise<Row[]> {
  const ms = quick ? 2000 : 6000
  const enc = new TextEncoder()
  const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
  const helloHash = contentHash(hello)
  const node = await startTestNode({ executors: 2 })
  const raw = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 })
  const clients = Array.from({ length: CLIENTS }, () => new PhaseClient({ address: node.grpc }))
  try {
    const { receiptPublicKey: expectedKey } = await raw.getNodeInfo({})
    const submit = async (client: PhaseClient): Promise<void> => {
      const r = await client.submit(new ManifestBuilder(helloHash).args('Hello, World'), hello, { expectedKey })
      if (!r.verification.verified) throw new Error(`receipt not verified: ${r.verification.reason}`)
    }
    // Warm: every client's channel, the module cached, the executors' instances hot.
    await Promise.all(clients.map(submit))
    for (let i = 0; i < 10; i++) await Promise.all(clients.map(submit))
    const rawManifest = (): Uint8Array => enc.encode(JSON.stringify({ version: 1, module_hash: helloHash, nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
    const anchor = await during(ms, 64, async () => { await raw.submitJob({ manifestJson: rawManifest() }) })
    const sdk = await during(ms, CLIENTS, async (i) => { await submit(clients[i]!) })
    return [{
      metric: `${CLIENTS} SDK clients, each verifying every receipt (portable verifier)`,
      value: `${sdk.rate.toFixed(0)} jobs/s`,
      floor: `${anchor.rate.toFixed(0)} jobs/s raw gRPC, 64 in flight, no verify`,
      ratio: `${(sdk.rate / anchor.rate).toFixed(2)}×`,
      target: '≥ 1500 jobs/s'
    }, {
      metric: '  client CPU per job (SDK: manifest, hashes, gRPC, verify)',
      value: `${sdk.cpuUs.toFixed(0)} µs`,
      floor: `${anchor.cpuUs.toFixed(0)} µs raw gRPC client`,
      ratio: `${(sdk.cpuUs / anchor.cpuUs).toFixed(2)}×`,
      target: ''
    }]
  } finally {
    for (const c of clients) c.close()
    raw.close()
    await node.stop()
  }
}

/** Jobs per second of `workers` loops running `fn` for `ms`, and this process's CPU µs per job. */
async function during (ms: number, workers: number, fn: (worker: number) => Promise<void>): Promise<{ rate: number, cpuUs: number }> {
  let done = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + ms
  await Promise.all(Array.from({ length: workers }, async (_, i) => {
    while (performance.now() < end) { await fn(i); done++ }
  }))
  const cpu = process.cpuUsage(cpu0)
  return { rate: done / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / done }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await sdkClientRows(process.argv.includes('--quick')))
}
