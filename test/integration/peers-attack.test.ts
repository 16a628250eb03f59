/**
 * Hostile peers against real nodes on loopback (each: discovery, signer, executor processes)
 * and real libp2p attackers in this process: a peer that lies about its result, silent and
 * flooding streams, concurrent offers past max_remote_jobs, messages around the explicit cap,
 * escape sequences in what a peer says, and a peer that vanishes mid-job.
 *
 * A: max_remote_jobs 2, read deadline 4 s, 8 MiB modules.  B: the client's node and the flood
 * target (7 MiB modules, 24 MiB of bytes in flight from peers, read deadline 5 s).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { lpStream } from '@libp2p/utils'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { jobIdOf, inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { signCapability, verifyCapability } from '../../services/core/protocol/src/crypto/capability.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { canonicalBytes } from '../../services/core/protocol/src/canonical.ts'
import { PhaseNetwork, type NetworkComponents } from '../../services/discovery/src/p2p/index.ts'
import { PhaseClient } from '../../sdk/ts/src/index.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'
import { withCustomSection } from '../executor/wasm-bytes.ts'

const JOB = '/phase/job/1.0.0'
const CAPABILITY = '/phase/capability/1.0.0'
const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const enc = new TextEncoder()
const dec = new TextDecoder()
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }
const MiB = 1024 * 1024
const ESC = '\u001b'
const LIMITS = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 5000, defaultTimeoutMs: 5000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 }

function manifest (args: string[], module: Uint8Array = HELLO): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), args }))
}

/** hello.wasm with a custom section of `bytes` bytes: a valid module of any size. */
function bigModule (bytes: number): Uint8Array {
  return withCustomSection(HELLO, new Uint8Array(bytes).fill(7), 'pad')
}

/** The unsigned varint that prefixes a message of `n` bytes. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  do { let b = n % 128; n = Math.floor(n / 128); if (n !== 0) b |= 0x80; out.push(b) } while (n !== 0)
  return Uint8Array.from(out)
}

const tcpOf = (n: TestNode): string => n.p2p.find((x) => x.includes('/tcp'))!
const quicOf = (n: TestNode): string => n.p2p.find((x) => x.includes('/quic'))!

/** Resident memory of a process, from /proc. */
async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024
}

/** What peers hold on a node now, from its Prometheus endpoint (phase_p2p_load). */
async function peerLoad (node: TestNode): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${node.http}/metrics`)).text()
  return Object.fromEntries([...text.matchAll(/^phase_p2p_load\{kind="(\w+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]))
}

/** Waits until the node holds nothing for peers: no job stream, no remote job, no byte in flight. */
async function drained (node: TestNode): Promise<Record<string, number>> {
  let last: Record<string, number> | undefined
  return await waitFor(async () => {
    last = await peerLoad(node)
    return last.streams === 0 && last.remote_jobs === 0 && last.inflight_bytes === 0 && last
  }, { what: 'the node to hold nothing for peers', intervalMs: 100, detail: () => `last load: ${JSON.stringify(last)}` })
}

/** Waits until B's client lists `id` as a peer that runs jobs (and `extra` holds for it). */
async function listed (client: GrpcClient<typeof NodeService>, id: string, what: string, extra: (p: { agentVersion: string }) => boolean = () => true): Promise<void> {
  await waitFor(async () => (await client.listPeers({})).peers.some((p) => p.peerId === id && p.runsJobs && extra(p)), { what: `${what} listed as a job runner` })
}

/** A bare libp2p node (TCP + Noise + yamux + identify): the attacker's own tools. */
async function rawPeer (userAgent = 'attacker/1', privateKey?: Awaited<ReturnType<typeof generateKeyPair>>): Promise<Libp2p> {
  return await createLibp2p({
    ...(privateKey !== undefined ? { privateKey } : {}),
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    nodeInfo: { userAgent },
    connectionManager: { inboundConnectionThreshold: 1000 },
    services: { identify: identify() }
  }) as unknown as Libp2p
}

async function openJobStreams (peer: Libp2p, address: string, count: number): Promise<Stream[]> {
  const conn = await peer.dial(multiaddr(address))
  return await Promise.all(Array.from({ length: count }, async () => await conn.newStream(JOB, { maxOutboundStreams: 1000 })))
}

/** The next message on a stream, or why there is none. */
async function reply (stream: Stream, timeoutMs = 60_000): Promise<Record<string, unknown> | { closed: string }> {
  const lp = lpStream(stream, { maxDataLength: 4 * MiB })
  try {
    return JSON.parse(dec.decode((await lp.read({ signal: AbortSignal.timeout(timeoutMs) })).subarray())) as Record<string, unknown>
  } catch (err) {
    return { closed: (err as Error).name }
  }
}

/** A Phase node in this process with the real protocol code and `jobs` of the test's making. */
async function inProcessPeer (jobs: NetworkComponents['jobs'], receiptKey: string, bootstrap: string): Promise<PhaseNetwork> {
  const net = new PhaseNetwork({
    logger: silentLogger(),
    privateKey: await generateKeyPair('Ed25519'),
    modules: { has: () => true },
    receiptKey: async () => receiptKey,
    runtime: async () => ({ name: 'v8-wasm', version: 'test' }),
    jobs
  }, {
    listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [bootstrap], mdns: false, relayServer: false, upnp: false,
    privateAddresses: true, maxConnections: 50, inboundPerSecond: 1000, maxRemoteJobs: 4, perPeerConcurrency: 4, perPeerPerSecond: 100,
    limits: LIMITS, maxMessageBytes: 4 * MiB
  })
  await net.start()
  return net
}

/** A raw peer that serves a valid capability record and answers job streams with `job`. */
async function fakeExecutor (userAgent: string, job: (stream: Stream) => Promise<void>): Promise<Libp2p> {
  const privateKey = await generateKeyPair('Ed25519')
  const peer = await rawPeer(userAgent, privateKey)
  const record = await signCapability(privateKey, peer.peerId.toString(), {
    version: 1, receipt_public_key: createReceiptSigner(randomBytes(32)).publicKey, runtimes: [{ name: 'v8-wasm', version: 'test' }], arch: 'x64', cores: 1, memory_mb: 1024,
    limits: { max_memory_mb: 64, max_timeout_ms: 5000, max_output_bytes: 1 << 20, max_module_bytes: 1 << 20 }, queue_depth: 0, protocols: [JOB]
  })
  await peer.handle(CAPABILITY, async (stream) => { await lpStream(stream).write(canonicalBytes(record)); await stream.close() })
  await peer.handle(JOB, job)
  return peer
}

function cli (node: TestNode, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(join(ROOT, 'bin/phase'), args, { env: { ...node.env, PHASE_API: node.grpc } },
      (err, stdout, stderr) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr }))
    child.stdin!.end()
  })
}

describe('a node facing hostile peers', () => {
  const nodes: TestNode[] = []
  const clients: Array<GrpcClient<typeof NodeService>> = []
  const ids: string[] = []

  beforeAll(async () => {
    const a = await startTestNode({
      executors: 1,
      config: { p2p: { ...P2P, max_remote_jobs: 2, per_peer_concurrency: 64, read_timeout_ms: 4000 }, limits: { max_module_bytes: 8 * MiB } }
    })
    nodes.push(a)
    nodes.push(await startTestNode({
      executors: 1,
      // All of B's workers may serve remote jobs: the flood test measures the flood, not the share
      // of executors kept for local work (tested in remote-caps.test.ts).
      config: { p2p: { ...P2P, bootstrap: [quicOf(a)], read_timeout_ms: 5000, max_inflight_bytes: 24 * MiB }, limits: { max_module_bytes: 7 * MiB }, workers_per_executor: 4, remote: { executor_share: 1 } }
    }))
    for (const n of nodes) {
      const c = createGrpcClient(NodeService, n.grpc, { maxMessageBytes: 256 * MiB })
      clients.push(c)
      ids.push((await c.getNodeInfo({})).peerId)
    }
    await listed(clients[1]!, ids[0]!, 'A (on B)')
  }, 180_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    await Promise.all(nodes.map(async (n) => await n.stop()))
  })

  it('refuses a result whose message says ok/0 while its receipt says exit 3 (node, CLI, SDK)', async () => {
    // A real key bound by a real capability record; the receipt is honest and validly signed,
    // only the unsigned message around it lies.
    const signer = createReceiptSigner(randomBytes(32))
    let liarId = ''
    const liar = await inProcessPeer({
      running: 0,
      async run ({ manifest: m }) {
        const job = m as Manifest
        const out = enc.encode('fine\n')
        const { canonical } = signer.sign({
          version: 1, job_id: jobIdOf(job, contentHash), nonce: job.nonce, module_hash: job.module_hash, inputs_hash: inputsHashOf(job, contentHash),
          stdout_hash: contentHash(out), stdout_bytes: out.length, stderr_hash: contentHash(new Uint8Array()), stderr_bytes: 0,
          status: 'exit', exit_code: 3, limits: { memory_bytes: 1 << 20, timeout_ms: 1000, output_bytes: 1 << 20 }, wall_time_us: 1, cpu_time_us: 1,
          started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:00.000Z',
          node: { peer_id: liarId, public_key: signer.publicKey }, runtime: { name: 'v8-wasm', version: 'test' }
        })
        return { jobId: jobIdOf(job, contentHash), manifest: job, manifestJson: new Uint8Array(), status: 'ok', exitCode: 0, stdout: out, stderr: new Uint8Array(), receiptJson: canonical, executor: 0 }
      }
    }, signer.publicKey, tcpOf(nodes[1]!))
    liarId = liar.peerId
    const sdk = new PhaseClient({ address: nodes[1]!.grpc })
    try {
      await listed(clients[1]!, liarId, 'the liar')
      const refusedBefore = (await clients[1]!.getNodeInfo({})).network!.receiptsRefused
      await expect(clients[1]!.submitJob({ manifestJson: manifest(['x']), module: HELLO, peerId: liarId })).rejects.toMatchObject({ code: 'verification_failed' })
      const run = await cli(nodes[1]!, ['run', join(ROOT, 'examples/hello/hello.wasm'), '--peer', liarId, '--', 'x'])
      expect(run.code).not.toBe(0)
      expect(run.stderr).toContain('verification_failed')
      const submitted = sdk.submit(JSON.parse(dec.decode(manifest(['y']))) as Manifest, HELLO, { peerId: liarId })
      await expect(submitted).rejects.toMatchObject({ code: 'verification_failed' })
      expect((await clients[1]!.getNodeInfo({})).network!.receiptsRefused - refusedBefore).toBe(3n)
    } finally {
      sdk.close()
      await liar.stop()
    }
  })

  it('carries every replica\'s capability record, so a client checks each key binding itself', async () => {
    const sdk = new PhaseClient({ address: nodes[1]!.grpc })
    try {
      const res = await clients[1]!.submitJob({ manifestJson: manifest(['both']), module: HELLO, replicas: 2 })
      expect(res.replicas).toHaveLength(2)
      for (const r of res.replicas) {
        const record = await verifyCapability(r.capabilityJson, r.peerId)
        expect(JSON.parse(dec.decode(r.receiptJson)).node.public_key).toBe(record.receipt_public_key)
      }
      const checked = await sdk.submit(JSON.parse(dec.decode(manifest(['sdk']))) as Manifest, HELLO, { replicas: 2, trustNode: true })
      expect(checked.replicas.map((r) => r.verification.verified)).toEqual([true, true])
    } finally {
      sdk.close()
    }
  })

  it('runs a module larger than 4 MiB (and within max_module_bytes) on a peer', async () => {
    const big = bigModule(6 * MiB)
    const res = await clients[1]!.submitJob({ manifestJson: manifest(['big'], big), module: big, peerId: ids[0] })
    expect(dec.decode(res.stdout)).toBe('gib\n')
    expect(res.peerId).toBe(ids[0])
    figure('peers', 'remote job with a 6 MiB module (peer cap 8 MiB)', 'ok')
  })

  it('reads a message up to the explicit cap and refuses one above it from its length prefix', async () => {
    const attacker = await rawPeer()
    try {
      // 6 MiB of junk (under A's cap, over the reader's 4 MiB default): read whole, then refused as JSON.
      const [under, over] = await openJobStreams(attacker, tcpOf(nodes[0]!), 2)
      void lpStream(under!, { maxDataLength: 64 * MiB }).write(new Uint8Array(6 * MiB).fill(32)).catch(() => {})
      expect(await reply(under!)).toMatchObject({ type: 'error', code: 'invalid_json' })
      // 100 MiB announced, 1 KiB sent: the answer comes without the rest ever being sent.
      void over!.send(Uint8Array.from([...varint(100 * MiB), ...new Uint8Array(1024)]))
      expect(await reply(over!)).toMatchObject({ type: 'error', code: 'module_too_large' })
    } finally {
      await attacker.stop()
    }
  })

  it('accepts only max_remote_jobs (2) of 10 concurrent offers', async () => {
    const attacker = await rawPeer()
    try {
      const streams = await openJobStreams(attacker, tcpOf(nodes[0]!), 10)
      // A module A does not have, so each accepted offer waits for its module.
      const offer = { type: 'offer', version: 1, manifest: { version: 1, module_hash: contentHash(randomBytes(64)), nonce: randomBytes(16).toString('hex') } }
      const answers = await Promise.all(streams.map(async (s) => {
        void lpStream(s).write(enc.encode(JSON.stringify({ ...offer, manifest: { ...offer.manifest, nonce: randomBytes(16).toString('hex') } })))
        return await reply(s)
      }))
      expect(answers.filter((a) => (a as { type?: string }).type === 'accept')).toHaveLength(2)
      expect(answers.filter((a) => (a as { code?: string }).code === 'queue_full')).toHaveLength(8)
    } finally {
      await attacker.stop()
    }
    // The slots come back when the attacker goes: A serves again.
    const served = await waitFor(async () => {
      const outcome = await clients[1]!.submitJob({ manifestJson: manifest(['again']), module: HELLO, peerId: ids[0] }).then(() => 'ok', (err: { code?: string }) => err.code ?? 'untyped')
      return outcome !== 'queue_full' && outcome
    }, { what: 'A to take a job again once the attacker is gone' })
    expect(served).toBe('ok')
  })

  it('closes 40 silent streams at the read deadline and gives their memory back', async () => {
    const attacker = await rawPeer()
    const pid = nodes[0]!.procs.get('discovery')!.child.pid!
    try {
      const before = await rssMiB(pid)
      const streams = await openJobStreams(attacker, tcpOf(nodes[0]!), 40)
      const answers = await Promise.all(streams.map(async (s) => await reply(s, 30_000)))
      // Each stream got the deadline error (not our own 30 s timeout), and A ended it.
      expect(answers.map((a) => (a as { code?: string }).code)).toEqual(Array(40).fill('deadline_exceeded'))
      await waitFor(() => streams.every((s) => s.status !== 'open'), { what: 'A to end all 40 silent streams' })
      await drained(nodes[0]!)
      figure('peers', '40 silent job streams: closed at the read deadline', '40/40', 'streams')
      figure('peers', '40 silent job streams: discovery RSS before/after', `${before.toFixed(0)}/${(await rssMiB(pid)).toFixed(0)}`, 'MiB')
    } finally {
      await attacker.stop()
    }
  })

  it('escapes control characters of a peer\'s agent version and reject message in `phase peers` and `phase run`', async () => {
    const evil = `evil${ESC}[2J${ESC}]0;owned${String.fromCharCode(7)}`
    // A peer that serves a valid capability record, then refuses every job with escape sequences.
    const attacker = await fakeExecutor(evil, async (stream) => {
      const lp = lpStream(stream, { maxDataLength: 4 * MiB })
      await lp.read()
      await lp.write(enc.encode(JSON.stringify({ type: 'reject', code: 'queue_full', message: `busy${ESC}[2J${ESC}[31mRED` })))
      await stream.close()
    })
    const id = attacker.peerId.toString()
    try {
      await attacker.dial(multiaddr(tcpOf(nodes[1]!)))
      await listed(clients[1]!, id, 'the evil peer (with its agent version)', (p) => p.agentVersion !== '')
      const run = await cli(nodes[1]!, ['run', join(ROOT, 'examples/hello/hello.wasm'), '--peer', id, '--', 'x'])
      expect(run.code).not.toBe(0)
      expect(run.stderr).toContain('busy')
      expect(run.stderr).not.toContain(ESC)
      const peers = await cli(nodes[1]!, ['peers'])
      expect(peers.code).toBe(0)
      expect(peers.stdout).toContain(id)
      expect(peers.stdout).not.toContain(ESC)
      expect(peers.stdout).not.toContain(String.fromCharCode(7))
      expect(peers.stdout).toContain('evil\\x1b[2J\\x1b]0;owned\\x07')
    } finally {
      await attacker.stop()
    }
  })

  it('gives up on a peer that never answers an offer at the read deadline, not the job\'s', async () => {
    // Reads the offer, then says nothing: the job's own deadline (30 s + 10 s) is not waited for.
    const silent = await fakeExecutor('quiet/1', async (stream) => { await lpStream(stream, { maxDataLength: 4 * MiB }).read() })
    const id = silent.peerId.toString()
    try {
      await silent.dial(multiaddr(tcpOf(nodes[1]!)))
      await listed(clients[1]!, id, 'the silent peer')
      const started = Date.now()
      await expect(clients[1]!.submitJob({ manifestJson: manifest(['hello?']), module: HELLO, peerId: id })).rejects.toMatchObject({ code: 'deadline_exceeded' })
      figure('peers', 'peer silent after an offer: given up after (read deadline 5 s)', ((Date.now() - started) / 1000).toFixed(1), 's')
    } finally {
      await silent.stop()
    }
  })

  it('keeps a well-behaved peer at 99% or more while another floods (silent streams, partial and oversized messages)', async () => {
    const b = nodes[1]!
    const pid = b.procs.get('discovery')!.child.pid!
    const before = await rssMiB(pid)
    let peak = before
    let peakInflight = 0
    const sampler = setInterval(() => {
      rssMiB(pid).then((m) => { peak = Math.max(peak, m) }, () => {})
      peerLoad(b).then((l) => { peakInflight = Math.max(peakInflight, l.inflight_bytes ?? NaN) }, () => {})
    }, 100)
    // PeerIds are free: 8 flooders, each under every per-peer limit of B.
    const attackers = await Promise.all(Array.from({ length: 8 }, async () => await rawPeer()))
    /** How each attacker stream ended: the error code B answered, or how the stream closed. */
    const ends = new Map<string, number>()
    const tally = (what: string): void => { ends.set(what, (ends.get(what) ?? 0) + 1) }
    try {
      // Connected one after the other first (a loaded machine is slow to handshake 8 at once).
      const conns = []
      for (const attacker of attackers) {
        for (let tries = 1; ; tries++) {
          try {
            conns.push(await attacker.dial(multiaddr(tcpOf(b)), { signal: AbortSignal.timeout(20_000) }))
            break
          } catch (err) {
            if (tries === 3) throw err
          }
        }
      }
      const flood = conns.map(async (conn, i) => {
        await Promise.all(Array.from({ length: 30 }, async (_, j) => {
          const kind = ['silent', 'partial', 'oversized'][j % 3]!
          const s = await conn.newStream(JOB, { maxOutboundStreams: 1000 }).catch((err: Error) => { tally(`${kind}: not opened (${err.name})`) })
          if (s === undefined) return
          if (j % 3 === 1) {
            // A 9 MiB message (under B's cap) of which 4 MiB arrives (just under the libp2p
            // reader's own limit), then nothing.
            s.send(varint(9 * MiB))
            s.send(new Uint8Array(4 * MiB - 16).fill(i))
          } else if (j % 3 === 2) {
            // 1 GiB announced: refused from the prefix.
            s.send(Uint8Array.from([...varint(1024 * MiB), ...new Uint8Array(1024)]))
          }
          const r = await reply(s, 30_000)
          tally(`${kind}: ${'code' in r ? String(r.code) : 'closed' in r ? `closed (${String(r.closed)})` : String(r.type)}`)
        }).map(async (p) => await p.catch((err: Error) => { tally(`send failed (${err.name})`) })))
      })
      // The well-behaved peer: A sends B 100 jobs, four at a time.
      let ok = 0
      let sent = 0
      const failures = new Map<string, number>()
      const worker = async (): Promise<void> => {
        while (sent < 100) {
          sent++
          const args = [`job ${sent}`]
          try {
            const res = await clients[0]!.submitJob({ manifestJson: manifest(args), module: HELLO, peerId: ids[1] })
            if (dec.decode(res.stdout) === `${args[0]!.split('').reverse().join('')}\n`) ok++
          } catch (err) {
            failures.set((err as { code?: string }).code ?? 'unknown', (failures.get((err as { code?: string }).code ?? 'unknown') ?? 0) + 1)
          }
        }
      }
      await Promise.all([...flood, worker(), worker(), worker(), worker()])
      figure('peers', 'flood (8 peers × 30 streams: silent, 4 MiB partial, oversized): well-behaved peer success', `${ok}/100`, 'jobs')
      figure('peers', 'flood: how the 240 attacker streams ended', [...ends].map(([k, v]) => `${k} ${v}`).join(', '))
      expect([...ends.values()].reduce((a, b) => a + b, 0)).toBe(240)
      figure('peers', 'flood: well-behaved jobs that failed, by code', failures.size === 0 ? 'none' : [...failures].map(([k, v]) => `${k} ${v}`).join(', '))
      expect(ok).toBeGreaterThanOrEqual(99)
    } finally {
      await Promise.all(attackers.map(async (a) => await a.stop()))
      clearInterval(sampler)
    }
    // Everything the flooders held is given back once they are gone (RSS shrinks lazily: recorded, not asserted).
    await drained(b)
    // Not synchronization: "after" is RSS 2 s after the node drained (a figure, not asserted).
    await new Promise((r) => setTimeout(r, 2000))
    const after = await rssMiB(pid)
    figure('peers', 'discovery RSS under flood: before/peak/after', `${before.toFixed(0)}/${peak.toFixed(0)}/${after.toFixed(0)}`, 'MiB')
    figure('peers', 'flood: most bytes from peers held at once (budget 24 MiB)', (peakInflight / MiB).toFixed(1), 'MiB')
    // 8 attackers × 10 partial messages × 4 MiB = 320 MiB offered, 40 MiB per attacker against a
    // 12 MiB share each: B never holds more than its budget (how much arrives before the read
    // deadline depends on the machine; the budget's own limits are tested in inbound-budget.test.ts).
    expect(peakInflight).toBeLessThanOrEqual(24 * MiB)
  })

  it('fails a job cleanly, with no receipt, when its peer vanishes mid-stream', async () => {
    let started!: () => void
    const running = new Promise<void>((resolve) => { started = resolve })
    const signer = createReceiptSigner(randomBytes(32))
    const vanisher = await inProcessPeer({
      running: 0,
      async run () {
        started()
        return await new Promise(() => {}) // never finishes: the peer goes away first
      }
    }, signer.publicKey, tcpOf(nodes[1]!))
    const id = vanisher.peerId
    await listed(clients[1]!, id, 'the vanishing peer')
    const before = (await clients[1]!.getNodeInfo({})).network!
    const job = clients[1]!.submitJob({ manifestJson: manifest(['gone']), module: HELLO, peerId: id }).then(() => 'result', (err: { code?: string }) => err.code ?? 'unknown')
    await running
    await vanisher.stop()
    const outcome = await job
    const after = (await clients[1]!.getNodeInfo({})).network!
    expect(['unavailable', 'deadline_exceeded', 'internal']).toContain(outcome)
    expect(outcome).not.toBe('internal')
    expect(after.jobsOutFailed - before.jobsOutFailed).toBe(1n)
    expect(after.jobsOut - before.jobsOut).toBe(0n)
    figure('peers', 'peer vanishing mid-stream: jobs lost silently', 0, 'jobs')
    figure('peers', 'peer vanishing mid-stream: receipts for unfinished work', 0, 'receipts')
    figure('peers', 'peer vanishing mid-stream: error the client got', outcome)
  })
})
