/**
 * The deterministic profile and fuel across two real nodes on loopback (issue 12, points 5–6):
 * the same deterministic job (same manifest, so the same job id and random seed) gives the same
 * output and the same fuel on both; `--replicas` counts agreement on the fuel too; the CLI's
 * --fuel and --deterministic reach the receipt.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { waitFor } from '../helpers/wait-for.ts'
import { compileWat } from '../helpers/wat.ts'

jest.setTimeout(120_000)
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }
const W = '"wasi_snapshot_preview1"'
/** Node A's fuel cap, and node B's: a deterministic job naming no fuel gets a different budget on each. */
const CAP_A = 100_000_000
const CAP_B = 10_000_000

/**
 * Reads 16 random bytes and the realtime clock, loops a number of times set by the random bytes,
 * reads the monotonic clock, prints all 32 bytes.
 */
const GUEST = await compileWat(`(module
  (import ${W} "clock_time_get" (func $time (param i32 i64 i32) (result i32)))
  (import ${W} "random_get" (func $random (param i32 i32) (result i32)))
  (import ${W} "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32) (local $n i32)
    (drop (call $random (i32.const 200) (i32.const 16)))
    (drop (call $time (i32.const 0) (i64.const 1) (i32.const 216)))
    (local.set $n (i32.add (i32.const 100) (i32.mul (i32.load8_u (i32.const 200)) (i32.const 50))))
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (drop (call $time (i32.const 1) (i64.const 1) (i32.const 224)))
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 32))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`)
const SPIN = await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')

interface Receipt { job_id: string, status: string, stdout_hash: string, fuel_used?: number, profile?: string, limits: { fuel?: number }, node: { public_key: string } }
const receiptOf = (bytes: Uint8Array): Receipt => JSON.parse(new TextDecoder().decode(bytes)) as Receipt

async function phase (node: TestNode, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const child = execFile(join(ROOT, 'bin/phase'), args, { env: { ...node.env, PHASE_API: node.grpc }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr }))
    child.stdin!.end()
  })
}

describe('deterministic jobs on two nodes', () => {
  const nodes: TestNode[] = []
  let dir: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phase-det-'))
    writeFileSync(join(dir, 'guest.wasm'), GUEST)
    writeFileSync(join(dir, 'spin.wasm'), SPIN)
    const a = await startTestNode({ executors: 1, config: { p2p: P2P, limits: { max_fuel: CAP_A } } })
    nodes.push(a)
    const quic = a.p2p.find((x) => x.includes('/quic'))!
    nodes.push(await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [quic] }, limits: { max_fuel: CAP_B } } }))
    const client = createGrpcClient(NodeService, nodes[1]!.grpc)
    const aClient = createGrpcClient(NodeService, a.grpc)
    try {
      const aId = (await aClient.getNodeInfo({})).peerId
      await waitFor(async () => (await client.listPeers({})).peers.some((p) => p.runsJobs && p.peerId === aId), { what: 'B to list A as a job runner' })
    } finally {
      client.close()
      aClient.close()
    }
  })
  afterAll(async () => {
    await Promise.all(nodes.map(async (n) => await n.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('gives identical output and fuel on two nodes for the same deterministic job', async () => {
    const manifest = { version: 1, module_hash: contentHash(GUEST), nonce: randomBytes(16).toString('hex'), profile: 'deterministic', limits: { fuel: 1_000_000 } }
    const runs = await Promise.all(nodes.map(async (node) => {
      const client = createGrpcClient(NodeService, node.grpc)
      try {
        return await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(manifest)), module: GUEST })
      } finally { client.close() }
    }))
    const [a, b] = runs.map((r) => receiptOf(r.receiptJson))
    expect(a!.node.public_key).not.toBe(b!.node.public_key)
    expect(a).toMatchObject({ status: 'ok', profile: 'deterministic', limits: { fuel: 1_000_000 } })
    expect(b).toMatchObject({ job_id: a!.job_id, status: 'ok', profile: 'deterministic', stdout_hash: a!.stdout_hash, fuel_used: a!.fuel_used, limits: { fuel: 1_000_000 } })
    expect(Buffer.from(runs[0]!.stdout)).toEqual(Buffer.from(runs[1]!.stdout))
    // The clocks read the fuel used: realtime first, monotonic after the loop, both within the job's fuel.
    const out = Buffer.from(runs[0]!.stdout)
    const [realtime, monotonic] = [out.readBigUInt64LE(16), out.readBigUInt64LE(24)]
    expect(realtime).toBeGreaterThan(0n)
    expect(monotonic).toBeGreaterThan(realtime + 100n * 8n)
    expect(monotonic).toBeLessThanOrEqual(BigInt(a!.fuel_used!))
  })

  it('keeps a remote job\'s input file on the submitting node, so the next job names it by hash', async () => {
    // Issue 12: input files travel like modules, also to another node: sent once to B, then by hash.
    const client = createGrpcClient(NodeService, nodes[1]!.grpc)
    const aId = await (async () => { const c = createGrpcClient(NodeService, nodes[0]!.grpc); try { return (await c.getNodeInfo({})).peerId } finally { c.close() } })()
    try {
      const data = randomBytes(4096)
      const hash = contentHash(data)
      const job = (nonce: string): Uint8Array => new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(GUEST), nonce, inputs: [{ path: '/in/data.bin', hash }] }))
      const first = await client.submitJob({ manifestJson: job(randomBytes(16).toString('hex')), module: GUEST, inputs: [{ hash, data }], peerId: aId })
      expect(first).toMatchObject({ status: 'ok', peerId: aId })
      const again = await client.submitJob({ manifestJson: job(randomBytes(16).toString('hex')), peerId: aId })
      expect(again).toMatchObject({ status: 'ok', peerId: aId })
      // A file no node holds is refused on B, before any peer is asked, naming the file.
      const unknown = contentHash(randomBytes(32))
      const missing = { version: 1, module_hash: contentHash(GUEST), nonce: randomBytes(16).toString('hex'), inputs: [{ path: '/in/x', hash: unknown }] }
      await expect(client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(missing)), peerId: aId })).rejects.toMatchObject({ code: 'input_not_cached', message: expect.stringContaining(unknown) })
    } finally {
      client.close()
    }
  })

  it('counts replicas of a deterministic job as agreeing only when their fuel agrees too', async () => {
    // Same fuel on both (named, below both caps): the two runs agree.
    const same = await phase(nodes[1]!, ['run', join(dir, 'guest.wasm'), '--deterministic', '--fuel', '1000000', '--replicas', '2', '--json'])
    expect(same.stderr).toBe('')
    const agreed = JSON.parse(same.stdout) as { agreeing: number, replicas: Array<{ receipt: Receipt }> }
    expect(agreed.agreeing).toBe(2)
    expect(new Set(agreed.replicas.map((r) => r.receipt.fuel_used)).size).toBe(1)
    // No fuel named: each node's cap, so each run ends fuel_exhausted with its own count and the
    // same (empty) output: one run agrees with itself only.
    const differ = await phase(nodes[1]!, ['run', join(dir, 'spin.wasm'), '--deterministic', '--replicas', '2', '--json'])
    const split = JSON.parse(differ.stdout) as { agreeing: number, replicas: Array<{ status: string, receipt: Receipt }> }
    expect(split.replicas.map((r) => r.receipt.fuel_used!).sort((x, y) => x - y)).toEqual([CAP_B, CAP_A])
    expect(split.replicas.every((r) => r.status === 'fuel_exhausted')).toBe(true)
    expect(split.agreeing).toBe(1)
  })

  it('puts --fuel into the receipt, lowered to the node\'s cap, and exits 125 when the fuel runs out', async () => {
    const r = await phase(nodes[1]!, ['run', join(dir, 'spin.wasm'), '--fuel', '5000', '--json'])
    expect(r.code).toBe(125)
    const out = JSON.parse(r.stdout) as { status: string, receipt: Receipt }
    expect(out.status).toBe('fuel_exhausted')
    expect(out.receipt).toMatchObject({ status: 'fuel_exhausted', fuel_used: 5000, limits: { fuel: 5000 } })
    expect(out.receipt.profile).toBeUndefined()
    const capped = JSON.parse((await phase(nodes[1]!, ['run', join(dir, 'spin.wasm'), '--fuel', String(CAP_B * 10), '--json'])).stdout) as { receipt: Receipt }
    expect(capped.receipt).toMatchObject({ fuel_used: CAP_B, limits: { fuel: CAP_B } })
    const bad = await phase(nodes[1]!, ['run', join(dir, 'spin.wasm'), '--fuel', '0'])
    expect(bad.code).toBe(64)
  })

  it('leaves fuel and profile out of the receipt of an ordinary job', async () => {
    const r = await phase(nodes[1]!, ['run', join(dir, 'guest.wasm'), '--json'])
    const out = JSON.parse(r.stdout) as { receipt: Receipt & Record<string, unknown> }
    expect(out.receipt.status).toBe('ok')
    expect(out.receipt).not.toHaveProperty('fuel_used')
    expect(out.receipt).not.toHaveProperty('profile')
    expect(out.receipt.limits).not.toHaveProperty('fuel')
  })
})
