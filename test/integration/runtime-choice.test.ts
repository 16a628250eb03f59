/**
 * The runtime is chosen per node (`executor_runtime`) and requested per job
 * (`requirements.runtime`), on two real nodes on loopback: A runs V8, B runs wasmer. Each
 * advertises its runtime in its signed capability record; a job names the runtime it needs and
 * runs on it or not at all: refused locally with `runtime_unavailable` (never silently on the
 * other runtime), sent to the peer that offers it with target remote or auto. The receipt names
 * the runtime that ran the job.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'

jest.setTimeout(120_000)
const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const enc = new TextEncoder()
const dec = new TextDecoder()
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }

type Client = GrpcClient<typeof NodeService>

function manifest (extra: Record<string, unknown> = {}): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(HELLO), nonce: randomBytes(16).toString('hex'), args: ['abc'], ...extra }))
}

const runtimeOf = (receiptJson: Uint8Array): { name: string, version: string } => (JSON.parse(dec.decode(receiptJson)) as { runtime: { name: string, version: string } }).runtime

describe('runtime choice', () => {
  let a: TestNode
  let b: TestNode
  let ca: Client
  let cb: Client
  let idA: string
  let idB: string

  beforeAll(async () => {
    a = await startTestNode({ executors: 1, config: { p2p: P2P } })
    b = await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [a.p2p.find((x) => x.includes('/quic'))!] }, executor_runtime: 'wasmer' } })
    ca = createGrpcClient(NodeService, a.grpc)
    cb = createGrpcClient(NodeService, b.grpc)
    idA = (await ca.getNodeInfo({})).peerId
    idB = (await cb.getNodeInfo({})).peerId
    for (const [c, other] of [[ca, idB], [cb, idA]] as const) {
      while (!(await c.listPeers({})).peers.some((p) => p.runsJobs && p.peerId === other)) await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })

  afterAll(async () => {
    ca?.close()
    cb?.close()
    await Promise.all([a?.stop(), b?.stop()])
  })

  it('runs a local job on the node\'s runtime, and the receipt names it', async () => {
    const onB = await cb.submitJob({ manifestJson: manifest(), module: HELLO }, { timeoutMs: 60_000 })
    expect(onB.status).toBe('ok')
    expect(dec.decode(onB.stdout)).toBe('cba\n')
    expect(runtimeOf(onB.receiptJson).name).toBe('wasmer')
    const onA = await ca.submitJob({ manifestJson: manifest(), module: HELLO }, { timeoutMs: 60_000 })
    expect(runtimeOf(onA.receiptJson).name).toBe('v8-wasm')
  })

  it('refuses a local job that requires a runtime this node does not run (runtime_unavailable), on either node', async () => {
    await expect(ca.submitJob({ manifestJson: manifest({ requirements: { runtime: 'wasmer' } }), module: HELLO }, { timeoutMs: 60_000 }))
      .rejects.toMatchObject({ code: 'runtime_unavailable', message: expect.stringContaining("requires runtime 'wasmer' and this node runs v8-wasm") })
    await expect(cb.submitJob({ manifestJson: manifest({ requirements: { runtime: 'v8-wasm' } }), module: HELLO }, { timeoutMs: 60_000 }))
      .rejects.toMatchObject({ code: 'runtime_unavailable' })
    // Naming its own runtime is fine.
    expect((await cb.submitJob({ manifestJson: manifest({ requirements: { runtime: 'wasmer' } }), module: HELLO }, { timeoutMs: 60_000 })).status).toBe('ok')
  })

  it('sends a job that requires the other runtime to the peer that runs it (target remote, and auto)', async () => {
    for (const target of ['remote', 'auto']) {
      const r = await ca.submitJob({ manifestJson: manifest({ requirements: { runtime: 'wasmer' } }), module: HELLO, target }, { timeoutMs: 60_000 })
      expect(r.status).toBe('ok')
      expect(r.peerId).toBe(idB)
      expect(runtimeOf(r.receiptJson).name).toBe('wasmer')
    }
    const back = await cb.submitJob({ manifestJson: manifest({ requirements: { runtime: 'v8-wasm' } }), module: HELLO, target: 'auto' }, { timeoutMs: 60_000 })
    expect(back.peerId).toBe(idA)
    expect(runtimeOf(back.receiptJson).name).toBe('v8-wasm')
  })

  it('advertises each node\'s runtime in its capability record (as its peers verified it)', async () => {
    const seenFromA = (await ca.listPeers({})).peers.find((p) => p.peerId === idB)!
    const seenFromB = (await cb.listPeers({})).peers.find((p) => p.peerId === idA)!
    expect(seenFromA.runtimes).toEqual([expect.stringMatching(/^wasmer@wasmer-sdk-0\.16\.0\/node-/)])
    expect(seenFromB.runtimes).toEqual([expect.stringMatching(/^v8-wasm@node-/)])
    expect((await cb.getNodeInfo({})).runtimeName).toBe('wasmer')
  })

  it('refuses on a wasmer node what wasmer cannot run (the deterministic profile) with runtime_unavailable', async () => {
    await expect(cb.submitJob({ manifestJson: manifest({ profile: 'deterministic' }), module: HELLO }, { timeoutMs: 60_000 }))
      .rejects.toMatchObject({ code: 'runtime_unavailable' })
  })
})
