/**
 * A job with a big input file (50 MB by default) run on another node: `node bench/input-file-remote.ts [MB]`.
 * Two real nodes on loopback (QUIC): the client submits to B with A's PeerId, so the file goes
 * client → B (gRPC) → A (the p2p job protocol, /phase/job/2.0.0) → A's executor, and the output
 * and receipt come back and are checked on B. Rows beside anchors of the same run: the same job
 * with a 1-byte input, remote and local on A. PSS (/proc/PID/smaps_rollup) of B's discovery, A's
 * discovery and A's executor: idle after a warm-up job, peak during the big jobs, 2 s after.
 */
import { randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { startTestNode } from '../test/helpers/node-harness.ts'
import { memoryOf, sampler } from '../test/helpers/proc-memory.ts'
import { printTable } from './stats.ts'
import { MB, SIZE, module, moduleHash, rows, row, ms, mib, bigFile } from './input-file-setup.ts'

const enc = new TextEncoder()
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], mdns: false, private_addresses: true, inbound_per_second: 1000 }
const LIMITS = { max_timeout_ms: 120_000 }

const a = await startTestNode({ executors: 1, config: { p2p: P2P, limits: LIMITS, remote: { max_timeout_ms: 120_000 } } })
const b = await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [a.p2p.find((x) => x.includes('/quic'))!] }, limits: LIMITS } })
const client = createGrpcClient(NodeService, b.grpc, { maxMessageBytes: 1024 * 1024 * 1024 })
const aClient = createGrpcClient(NodeService, a.grpc, { maxMessageBytes: 1024 * 1024 * 1024 })
try {
  const aId = (await aClient.getNodeInfo({})).peerId
  while (!(await client.listPeers({})).peers.some((p) => p.runsJobs && p.peerId === aId)) await new Promise((resolve) => setTimeout(resolve, 50))
  const pids = { 'B discovery': b.procs.get('discovery')!.child.pid!, 'A discovery': a.procs.get('discovery')!.child.pid!, 'A executor': a.procs.get('executor-0')!.child.pid! }
  const job = async (on: typeof client, remote: boolean, data: Uint8Array, send: boolean, withModule = false): Promise<number> => {
    const hash = contentHash(data)
    const m = { version: 1, module_hash: moduleHash, nonce: randomBytes(16).toString('hex'), inputs: [{ path: '/in/x', hash }], limits: { timeout_ms: 120_000 } }
    const t = performance.now()
    const r = await on.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module: withModule ? module : undefined, inputs: send ? [{ hash, data }] : [], ...(remote ? { peerId: aId } : {}) }, { timeoutMs: 300_000 })
    const took = performance.now() - t
    if (r.status !== 'ok') throw new Error(`job ended ${r.status}: ${new TextDecoder().decode(r.stderr)}`)
    if (remote && r.peerId !== aId) throw new Error('the job did not run on A')
    return took
  }
  await job(aClient, false, Buffer.from('w\n'), true, true)
  await job(client, true, Buffer.from('x\n'), true, true)
  const anchorRemote = await job(client, true, Buffer.from('y\n'), true)
  const anchorLocal = await job(aClient, false, Buffer.from('z\n'), true)
  const idle = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, memoryOf(pid)?.pss]))
  const data = bigFile(SIZE)
  const peak = sampler(() => Object.values(pids), 50)
  const first = await job(client, true, data, true)
  const again = await job(client, true, data, false)
  peak.stop()
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const after = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, memoryOf(pid)?.pss]))
  row(`remote job, ${MB} MB input sent with it (client → B → A, QUIC)`, ms(first), `${ms(anchorRemote)} (1-byte input, remote)`, `${(first / anchorRemote).toFixed(0)}x`)
  row(`remote job, ${MB} MB input by hash (B and A hold it)`, ms(again), `${ms(anchorRemote)} (1-byte input, remote)`, `${(again / anchorRemote).toFixed(0)}x`)
  row('anchor: 1-byte input, local on A', ms(anchorLocal))
  for (const [name, pid] of Object.entries(pids)) row(`PSS ${name}: idle / peak / after`, `${mib(idle[name])} / ${mib(peak.peak.get(pid)?.pss)} / ${mib(after[name])}`)
  printTable(rows)
} finally {
  client.close()
  aClient.close()
  await b.stop()
  await a.stop()
}
