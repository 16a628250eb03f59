/**
 * Three real nodes (each: discovery, signer, executor processes) on loopback over libp2p:
 * a remote run, a peer-targeted run, receipts verified against the key bound to the PeerId that
 * ran the job, `phase peers`, and a forged receipt from a hostile peer detected as an error.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceipt } from '../../services/core/protocol/src/crypto/verify.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { verifyCapability } from '../../services/core/protocol/src/crypto/capability.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'
import { waitFor } from '../helpers/wait-for.ts'

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const enc = new TextEncoder()
const dec = new TextDecoder()
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }

function manifest (args: string[]): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(HELLO), nonce: randomBytes(16).toString('hex'), args }))
}

describe('three nodes on loopback', () => {
  const nodes: TestNode[] = []
  const clients: Array<GrpcClient<typeof NodeService>> = []
  const ids: string[] = []
  const keys: string[] = []
  const quicOf = (n: TestNode): string => n.p2p.find((x) => x.includes('/quic'))!

  /** Waits until node i lists both other nodes as peers that run jobs. */
  async function seesBothOthers (i: number): Promise<void> {
    const others = ids.filter((_, j) => j !== i)
    await waitFor(async () => (await clients[i]!.listPeers({})).peers.filter((p) => p.runsJobs && others.includes(p.peerId)).length === 2,
      { what: `node ${i} to list the other two nodes as job runners` })
  }

  beforeAll(async () => {
    // A has tight per-peer limits and small message caps, for the flood and size tests.
    const a = await startTestNode({
      executors: 1,
      config: { p2p: { ...P2P, per_peer_concurrency: 2, per_peer_jobs_per_second: 10 }, limits: { max_module_bytes: 1 << 20, max_stdin_bytes: 1 << 16 } }
    })
    nodes.push(a)
    nodes.push(await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [quicOf(a)] } } }))
    nodes.push(await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [quicOf(a), quicOf(nodes[1]!)] } } }))
    for (const n of nodes) {
      const c = createGrpcClient(NodeService, n.grpc, { maxMessageBytes: 256 << 20 })
      clients.push(c)
      const info = await c.getNodeInfo({})
      ids.push(info.peerId)
      keys.push(info.receiptPublicKey)
    }
    // B and C know A through bootstrap; wait until each sees both others as job runners.
    for (const i of clients.keys()) await seesBothOthers(i)
  })

  afterAll(async () => {
    for (const c of clients) c.close()
    await Promise.all(nodes.map(async (n) => await n.stop()))
  })

  it('runs a job on another node, with a receipt bound to that node, and counts it as sent', async () => {
    const sentBefore = (await clients[1]!.getNodeInfo({})).network!.jobsOut
    const res = await clients[1]!.submitJob({ manifestJson: manifest(['Hello, World']), module: HELLO, target: 'remote' })
    expect(dec.decode(res.stdout)).toBe('dlroW ,olleH\n')
    expect(res.peerId).not.toBe(ids[1])
    const ran = ids.indexOf(res.peerId)
    expect(ran).toBeGreaterThanOrEqual(0)
    const { receipt } = await verifyReceipt(res.receiptJson, { publicKey: keys[ran]!, peerId: ids[ran]!, outputs: { stdout: res.stdout, stderr: res.stderr } })
    expect(receipt.node.peer_id).toBe(ids[ran])
    // The response carries the runner's signed capability record: the PeerId ↔ receipt key binding.
    const record = await verifyCapability(res.capabilityJson, res.peerId)
    expect(record.receipt_public_key).toBe(keys[ran])
    expect((await clients[1]!.getNodeInfo({})).network!.jobsOut - sentBefore).toBe(1n)
  })

  it('runs a job on the peer it names, and sends only the hash once that peer has the module', async () => {
    const first = await clients[1]!.submitJob({ manifestJson: manifest(['one']), module: HELLO, peerId: ids[0] })
    expect(first.peerId).toBe(ids[0])
    const second = await clients[1]!.submitJob({ manifestJson: manifest(['two']), peerId: ids[0] })
    expect(dec.decode(second.stdout)).toBe('owt\n')
    await verifyReceipt(second.receiptJson, { publicKey: keys[0]!, peerId: ids[0]! })
  })

  it('lists peers with their verified receipt keys', async () => {
    const { peers } = await clients[1]!.listPeers({})
    const a = peers.find((p) => p.peerId === ids[0])!
    expect(a.runsJobs).toBe(true)
    expect(a.receiptPublicKey).toBe(keys[0])
    expect(['quic', 'tcp']).toContain(a.transport)
  })

  it('runs --remote and --replicas from the CLI and prints peers', async () => {
    const run = await new Promise<{ code: number, stdout: string }>((resolve) => {
      const child = execFile(join(ROOT, 'bin/phase'), ['run', join(ROOT, 'examples/hello/hello.wasm'), '--remote', '--json', '--', 'far away'], { env: { ...nodes[2]!.env, PHASE_API: nodes[2]!.grpc } },
        (err, stdout) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout }))
      child.stdin!.end()
    })
    expect(run.code).toBe(0)
    const out = JSON.parse(run.stdout) as { stdout: string, remote: boolean, peer_id: string }
    expect(out).toMatchObject({ stdout: 'yawa raf\n', remote: true })
    expect(out.peer_id).not.toBe(ids[2])
    const quorum = await new Promise<string>((resolve) => {
      const child = execFile(join(ROOT, 'bin/phase'), ['run', join(ROOT, 'examples/hello/hello.wasm'), '--replicas', '3', '--json', '--', 'x'], { env: { ...nodes[2]!.env, PHASE_API: nodes[2]!.grpc } },
        (_err, stdout) => resolve(stdout))
      child.stdin!.end()
    })
    expect(JSON.parse(quorum)).toMatchObject({ stdout: 'x\n', agreeing: 3 })
    expect((JSON.parse(quorum) as { replicas: unknown[] }).replicas).toHaveLength(3)
    const peers = await new Promise<string>((resolve) => {
      execFile(join(ROOT, 'bin/phase'), ['peers'], { env: { ...nodes[2]!.env, PHASE_API: nodes[2]!.grpc } }, (_err, stdout) => resolve(stdout))
    })
    expect(peers).toContain(ids[0])
    expect(peers).toContain('runs jobs')
  })

  it('finds executors through DHT provider records, filtered by requirements', async () => {
    const found = await waitFor(async () => {
      const res = await clients[1]!.findExecutors({ runtime: 'v8-wasm', limit: 10 })
      return res.executors.length >= 2 && res.executors.map((e) => e.peerId)
    }, { what: 'FindExecutors on B to return two providers' })
    expect(new Set(found)).toEqual(new Set([ids[0], ids[2]]))
    const res = await clients[1]!.findExecutors({ runtime: 'v8-wasm', minMemoryMb: 1_000_000 })
    expect(res.executors).toEqual([])
    const none = await clients[1]!.findExecutors({ runtime: 'no-such-runtime' })
    expect(none.executors).toEqual([])
  })

  it('runs replicas on distinct nodes and reports their agreement with every receipt', async () => {
    const res = await clients[1]!.submitJob({ manifestJson: manifest(['quorum']), module: HELLO, replicas: 3 })
    expect(dec.decode(res.stdout)).toBe('murouq\n')
    expect(res.agreeing).toBe(3)
    expect(new Set(res.replicas.map((r) => r.peerId))).toEqual(new Set(ids))
    for (const r of res.replicas) {
      const i = ids.indexOf(r.peerId)
      const { receipt } = await verifyReceipt(r.receiptJson, { publicKey: keys[i]!, peerId: ids[i]! })
      expect(receipt.stdout_hash).toBe(r.stdoutHash)
    }
    await expect(clients[1]!.submitJob({ manifestJson: manifest(['too many']), replicas: 5 })).rejects.toMatchObject({ code: 'unavailable' })
  })

  it('limits one flooding peer while another is served', async () => {
    const refusedBefore = (await clients[0]!.getNodeInfo({})).network!.jobsRefused
    const flood = await Promise.allSettled(Array.from({ length: 30 }, async (_, i) =>
      await clients[1]!.submitJob({ manifestJson: manifest([`flood ${i}`]), module: HELLO, peerId: ids[0] })))
    const refused = flood.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'queue_full')
    expect(refused.length).toBeGreaterThan(0)
    expect(flood.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(0)
    const other = await clients[2]!.submitJob({ manifestJson: manifest(['served']), module: HELLO, peerId: ids[0] })
    expect(dec.decode(other.stdout)).toBe('devres\n')
    // A counts the jobs it refused.
    expect((await clients[0]!.getNodeInfo({})).network!.jobsRefused - refusedBefore).toBeGreaterThanOrEqual(BigInt(refused.length))
  })

  it('refuses an oversized message and keeps serving', async () => {
    const { createLibp2p } = await import('libp2p')
    const { tcp } = await import('@libp2p/tcp')
    const { noise } = await import('@chainsafe/libp2p-noise')
    const { yamux } = await import('@chainsafe/libp2p-yamux')
    const { lpStream } = await import('@libp2p/utils')
    const { multiaddr } = await import('@multiformats/multiaddr')
    const probe = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    try {
      const stream = await probe.dialProtocol(multiaddr(nodes[0]!.p2p.find((x) => x.includes('/tcp'))!), '/phase/job/1.0.0')
      const lp = lpStream(stream, { maxDataLength: 64 << 20 })
      await lp.write(new Uint8Array(8 << 20).fill(32)).catch(() => {})
      const reply = JSON.parse(new TextDecoder().decode((await lp.read()).subarray())) as { type: string, code: string }
      expect(reply).toMatchObject({ type: 'error', code: 'module_too_large' })
    } finally {
      await probe.stop()
    }
    const res = await clients[2]!.submitJob({ manifestJson: manifest(['after']), module: HELLO, peerId: ids[0] })
    expect(dec.decode(res.stdout)).toBe('retfa\n')
  })

  it('refuses a forged receipt from a hostile peer as an error, never a result', async () => {
    // A real libp2p peer that speaks the protocols honestly but signs receipts with a key other
    // than the one its capability record binds to its PeerId.
    const liarKey = await generateKeyPair('Ed25519')
    const honestSigner = createReceiptSigner(randomBytes(32))
    const forger = createReceiptSigner(randomBytes(32))
    const liar = new PhaseNetwork({
      logger: silentLogger(),
      privateKey: liarKey,
      modules: { has: () => true },
      receiptKey: async () => honestSigner.publicKey,
      runtime: async () => ({ name: 'v8-wasm', version: 'liar' }),
      jobs: {
        running: 0,
        async run () {
          const out = enc.encode('forged\n')
          const { canonical } = forger.sign({
            version: 1, job_id: contentHash(out), nonce: 'a'.repeat(32), module_hash: contentHash(HELLO), inputs_hash: contentHash(out),
            stdout_hash: contentHash(out), stdout_bytes: out.length, stderr_hash: contentHash(new Uint8Array()), stderr_bytes: 0,
            status: 'ok', exit_code: 0, limits: { memory_bytes: 1, timeout_ms: 1, output_bytes: 1 }, wall_time_us: 1, cpu_time_us: 1,
            started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:00.000Z',
            node: { peer_id: peerIdFromPrivateKey(liarKey).toString(), public_key: forger.publicKey }, runtime: { name: 'v8-wasm', version: 'liar' }
          })
          return { jobId: contentHash(out), manifest: {} as never, manifestJson: out, status: 'ok', exitCode: 0, stdout: out, stderr: new Uint8Array(), receiptJson: canonical, executor: 0 }
        }
      }
    }, {
      listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [nodes[1]!.p2p.find((x) => x.includes('/tcp'))!], mdns: false, relayServer: false, upnp: false,
      privateAddresses: true, maxConnections: 50, inboundPerSecond: 1000, maxRemoteJobs: 4, perPeerConcurrency: 4, perPeerPerSecond: 100,
      limits: { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 5000, defaultTimeoutMs: 5000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 },
      maxMessageBytes: 4 << 20
    })
    await liar.start()
    try {
      const liarId = liar.peerId
      await waitFor(async () => (await clients[1]!.listPeers({})).peers.some((p) => p.peerId === liarId && p.runsJobs), { what: 'B to list the liar as a job runner' })
      const before = (await clients[1]!.getNodeInfo({})).network!
      await expect(clients[1]!.submitJob({ manifestJson: manifest(['x']), module: HELLO, peerId: liarId })).rejects.toMatchObject({ code: 'verification_failed' })
      const { peers } = await clients[1]!.listPeers({})
      expect(peers.find((p) => p.peerId === liarId)!.failures).toBeGreaterThanOrEqual(1)
      const { network } = await clients[1]!.getNodeInfo({})
      expect(network!.receiptsRefused - before.receiptsRefused).toBe(1n)
      expect(network!.peers).toBeGreaterThanOrEqual(3) // A, C and the liar
    } finally {
      await liar.stop()
    }
  })

  it('fails over to another peer when the chosen one is stopped mid-job', async () => {
    // ~1.5 s of work, so there is time to stop whichever node took the job.
    const slow = await compileWat(`(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (data (i32.const 16) "done")
      (func (export "_start") (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 700000000))))
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 4))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`)
    const m = enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(slow), nonce: randomBytes(16).toString('hex'), limits: { timeout_ms: 10000 } }))
    const job = clients[1]!.submitJob({ manifestJson: m, module: slow, target: 'remote' })
    // Find the node running it (A or C) through its executor's status, and stop that node.
    const { ExecutorService } = await import('../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js')
    const running = async (i: number): Promise<boolean> => {
      const status = createGrpcClient(ExecutorService, `unix:${join(nodes[i]!.dir, 'run', 'executors', 'executor-0.sock')}`)
      try { return (await status.getStatus({})).running > 0 } finally { status.close() }
    }
    const victim = await waitFor(async () => (await running(0) ? 0 : await running(2) ? 2 : undefined), { what: 'A or C to run the slow job', intervalMs: 10 })
    try {
      await nodes[victim]!.stopProcess('discovery', 'SIGKILL')
      const res = await job
      expect(dec.decode(res.stdout)).toBe('done')
      const survivor = victim === 0 ? 2 : 0
      expect(res.peerId).toBe(ids[survivor])
      await verifyReceipt(res.receiptJson, { publicKey: keys[survivor]!, peerId: ids[survivor]! })
    } finally {
      await job.catch(() => {})
      await restartDiscovery(victim)
    }
  })

  /**
   * Brings a killed discovery back into the network: same identity (kept in its state folder),
   * new listen ports, so it bootstraps from the two others' current addresses (A's own config
   * names no bootstrap peer, and the others only knew its old ports).
   */
  async function restartDiscovery (i: number): Promise<void> {
    const n = nodes[i]!
    const config = join(n.dir, 'plasmd.json')
    const doc = JSON.parse(await readFile(config, 'utf8')) as { p2p: Record<string, unknown> }
    doc.p2p.bootstrap = nodes.filter((_, j) => j !== i).map(quicOf)
    await writeFile(config, JSON.stringify(doc), { mode: 0o600 })
    await n.startProcess('discovery')
    clients[i]!.close()
    clients[i] = createGrpcClient(NodeService, n.grpc, { maxMessageBytes: 256 << 20 })
    for (const j of clients.keys()) await seesBothOthers(j)
  }
})
