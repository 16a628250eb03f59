/**
 * Jobs from other nodes run under their own caps (remote.max_timeout_ms, remote.max_memory_mb)
 * and hold only a share of the executors (remote.executor_share), so a node's own clients are
 * always served: two real nodes on loopback over libp2p.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { waitFor } from '../helpers/wait-for.ts'
import { compileWat } from '../helpers/wat.ts'
import { figure } from '../helpers/figures.ts'

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const LOOP = await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')
const enc = new TextEncoder()
const dec = new TextDecoder()
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }

type Client = GrpcClient<typeof NodeService>

function manifest (module: Uint8Array, extra: Record<string, unknown> = {}): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), args: ['x'], ...extra }))
}

async function outcome (run: Promise<{ status: string }>): Promise<string> {
  try { return (await run).status } catch (err) { return `error:${(err as { code: string }).code}` }
}

describe('remote job caps', () => {
  let a: TestNode
  let b: TestNode
  let ca: Client
  let cb: Client
  let idA: string
  let idB: string

  beforeAll(async () => {
    // A: the defaults (remote jobs up to 10 s). B: two executors, remote jobs up to 20 s.
    a = await startTestNode({ executors: 1, config: { p2p: P2P } })
    b = await startTestNode({ executors: 2, config: { p2p: { ...P2P, bootstrap: [a.p2p.find((x) => x.includes('/quic'))!] }, remote: { max_timeout_ms: 20_000 } } })
    ca = createGrpcClient(NodeService, a.grpc)
    cb = createGrpcClient(NodeService, b.grpc)
    idA = (await ca.getNodeInfo({})).peerId
    idB = (await cb.getNodeInfo({})).peerId
    for (const [c, other] of [[ca, idB], [cb, idA]] as const) {
      await waitFor(async () => (await c.listPeers({})).peers.some((p) => p.runsJobs && p.peerId === other), { what: `${other} listed as a job runner` })
    }
  }, 60_000)

  afterAll(async () => {
    ca?.close()
    cb?.close()
    await Promise.all([a?.stop(), b?.stop()])
  })

  it('serves local jobs while remote loops hold their share of the executors', async () => {
    const loop = { limits: { timeout_ms: 15_000 } }
    const first = outcome(ca.submitJob({ manifestJson: manifest(LOOP, loop), module: LOOP, target: 'remote', peerId: idB }, { timeoutMs: 60_000 }))
    await waitFor(async () => (await cb.getNodeStatus({})).jobsInFlight >= 1, { what: 'B to hold the first remote loop' })
    // B has 2 workers and shares half: a second remote loop is refused, not queued.
    const second = outcome(ca.submitJob({ manifestJson: manifest(LOOP, loop), target: 'remote', peerId: idB }, { timeoutMs: 60_000 }))
    let settled = false
    void second.then(() => { settled = true })
    await waitFor(async () => settled || (await cb.getNodeStatus({})).jobsInFlight >= 2, { what: 'B to answer or hold the second remote loop' })
    // B's own client: answered at once by the executor left for local work.
    const local = await cb.submitJob({ manifestJson: manifest(HELLO, { args: ['local'] }), module: HELLO }, { timeoutMs: 60_000 })
    expect(local.status).toBe('ok')
    expect(dec.decode(local.stdout)).toBe('lacol\n')
    expect(await second).toBe('error:queue_full')
    expect(await first).toBe('timeout')
    figure('load', 'local hello while remote 15 s loops are offered to 2 executors (share 0.5)', 'ok', 'pass')
  }, 90_000)

  it('refuses a remote job that asks for more than the remote caps', async () => {
    // A's remote cap is the default 10 s (its local cap is 60 s).
    const long = outcome(cb.submitJob({ manifestJson: manifest(LOOP, { limits: { timeout_ms: 15_000 } }), module: LOOP, target: 'remote', peerId: idA }, { timeoutMs: 60_000 }))
    expect(await long).toBe('error:limit_exceeded')
    const big = outcome(cb.submitJob({ manifestJson: manifest(HELLO, { limits: { memory_mb: 200 } }), module: HELLO, target: 'remote', peerId: idA }, { timeoutMs: 60_000 }))
    expect(await big).toBe('error:limit_exceeded')
    // The same asks from A's own client are within A's local caps.
    const res = await ca.submitJob({ manifestJson: manifest(HELLO, { limits: { memory_mb: 200 } }), module: HELLO }, { timeoutMs: 60_000 })
    expect(res.status).toBe('ok')
  }, 60_000)
})
