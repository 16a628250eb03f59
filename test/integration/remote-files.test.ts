/**
 * Input and output files over `/phase/job/2.0.0` between two real PhaseNetworks on loopback:
 * node A runs jobs (its runner signs real receipts listing output files), node B sends them.
 * Input files travel only when A lacks them (hash-only resubmission), within A's per-job cap and
 * checked against their hashes; output files come back with the result and B checks each one
 * against the receipt's `outputs` (a lying A is verification_failed); B sends nothing a peer asks
 * for that the job does not name. Replicas agree on output files and fuel, not stdout alone.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { lpStream } from '@libp2p/utils'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { PhaseNetwork, JOB_PROTOCOL_2 } from '../../services/discovery/src/p2p/index.ts'
import { messageBudget } from '../../services/core/protocol/src/index.ts'
import { jobChannel, runJob2, DEFAULT_MAX_INPUT_BYTES } from '../../services/discovery/src/p2p/job-protocol-2.ts'
import { agreementKey } from '../../services/discovery/src/router.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { jobIdOf, inputsHashOf, parseManifest, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { isPhaseError, type VerificationError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { waitFor } from '../helpers/wait-for.ts'

const MiB = 1024 * 1024
const LIMITS = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 5000, defaultTimeoutMs: 5000, maxOutputBytes: 4 << 20, defaultOutputBytes: 4 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 }
const enc = new TextEncoder()
const MODULE_HASH = `sha256:${'cd'.repeat(32)}`
const EMPTY = new Uint8Array(0)

/** How node A's runner behaves (set per test). */
interface Behaviour {
  /** Changes the bytes of the first output file after signing (a lying node). */
  lie?: 'bytes' | 'extra' | 'missing'
}

interface NodeA {
  net: PhaseNetwork
  /** Input files A holds (what `modules.has` answers for), with the bytes its runner got. */
  held: Map<string, Uint8Array>
  /** Input files each job arrived with. */
  received: string[][]
  behaviour: Behaviour
}

const netInit = (extra: { maxInputBytes?: number } = {}): ConstructorParameters<typeof PhaseNetwork>[1] => ({
  listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false, relayServer: false, upnp: false,
  privateAddresses: true, maxConnections: 50, inboundPerSecond: 1000, maxRemoteJobs: 8, perPeerConcurrency: 4, perPeerPerSecond: 10_000,
  limits: LIMITS, maxMessageBytes: 4 * MiB, maxResultBytes: messageBudget(LIMITS).peerResult, readTimeoutMs: 30_000, ...extra
})

/**
 * Node A: its runner reads the job's input files (those it was sent, else those it holds),
 * writes /out/sum.txt (their sizes) and /out/copy/<first input's name> (its bytes), and signs
 * a receipt listing both, as the executor and signer would.
 */
async function nodeA (init: { maxInputBytes?: number } = {}): Promise<NodeA> {
  const key = await generateKeyPair('Ed25519')
  const signer = createReceiptSigner(randomBytes(32))
  const peerId = peerIdFromPrivateKey(key).toString()
  const a: NodeA = { held: new Map(), received: [], behaviour: {}, net: undefined as never }
  a.net = new PhaseNetwork({
    logger: silentLogger(),
    privateKey: key,
    modules: { has: (hash) => hash === MODULE_HASH || a.held.has(hash) },
    receiptKey: async () => signer.publicKey,
    runtime: async () => ({ name: 'v8-wasm', version: 'test' }),
    jobs: {
      running: 0,
      async run (req) {
        const manifest = parseManifest(req.manifest)
        const sent = (req as { inputs?: Array<{ hash: string, data: Uint8Array }> }).inputs ?? []
        a.received.push(sent.map((b) => b.hash))
        // JobRunner keeps the files it is sent, by hash, like modules.
        for (const b of sent) a.held.set(b.hash, b.data)
        const files = (manifest.inputs ?? []).map((i) => a.held.get(i.hash)!)
        const first = manifest.inputs?.[0]
        const outputs = [
          { path: '/out/sum.txt', data: enc.encode(files.map((f) => f.byteLength).join('+')) },
          ...(first !== undefined ? [{ path: `/out/copy/${first.path.split('/').at(-1)!}`, data: a.held.get(first.hash)! }] : [])
        ].sort((x, y) => x.path < y.path ? -1 : 1)
        const stdout = enc.encode('done\n')
        const jobId = jobIdOf(manifest)
        const { canonical } = signer.sign({
          version: 1, job_id: jobId, nonce: manifest.nonce, module_hash: manifest.module_hash, inputs_hash: inputsHashOf(manifest),
          stdout_hash: contentHash(stdout), stdout_bytes: stdout.length, stderr_hash: contentHash(EMPTY), stderr_bytes: 0,
          status: 'ok', exit_code: 0, limits: { memory_bytes: 1 << 20, timeout_ms: 1000, output_bytes: 1 << 20, fuel: 1000 },
          outputs: outputs.map((o) => ({ path: o.path, hash: contentHash(o.data), bytes: o.data.byteLength })), fuel_used: 42,
          wall_time_us: 1, cpu_time_us: 1, started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:00.000Z',
          node: { peer_id: peerId, public_key: signer.publicKey }, runtime: { name: 'v8-wasm', version: 'test' }
        } as never)
        let sentOut = outputs
        if (a.behaviour.lie === 'bytes') sentOut = outputs.map((o, i) => i === 0 ? { ...o, data: enc.encode('forged') } : o)
        if (a.behaviour.lie === 'extra') sentOut = [...outputs, { path: '/out/zz-unlisted', data: enc.encode('x') }]
        if (a.behaviour.lie === 'missing') sentOut = outputs.slice(1)
        return { jobId, manifest, manifestJson: enc.encode('{}'), status: 'ok', exitCode: 0, stdout, stderr: EMPTY, receiptJson: canonical, executor: 0, outputs: sentOut } as never
      }
    }
  }, netInit(init))
  await a.net.start()
  return a
}

const tcpOf = (net: PhaseNetwork): string => net.addresses().find((x) => x.includes('/tcp/'))!
const noModule = async (): Promise<Uint8Array> => { throw new Error('A holds the module') }

function jobWith (files: Array<{ path: string, data: Uint8Array }>): { manifest: Manifest, loadInput: (hash: string) => Promise<Uint8Array>, asked: string[] } {
  const byHash = new Map(files.map((f) => [contentHash(f.data), f.data]))
  const asked: string[] = []
  const manifest = parseManifest({ version: 1, module_hash: MODULE_HASH, nonce: randomBytes(16).toString('hex'), inputs: files.map((f) => ({ path: f.path, hash: contentHash(f.data) })) })
  return { manifest, asked, loadInput: async (hash) => { asked.push(hash); return byHash.get(hash)! } }
}

describe('remote jobs with input and output files', () => {
  let a: NodeA
  let small: NodeA
  let b: PhaseNetwork
  beforeAll(async () => {
    a = await nodeA()
    // Accepts at most 1 MiB of input files per job.
    small = await nodeA({ maxInputBytes: MiB })
    b = new PhaseNetwork({
      logger: silentLogger(),
      privateKey: await generateKeyPair('Ed25519'),
      modules: { has: () => false },
      receiptKey: async () => 'ed25519:unused',
      runtime: async () => ({ name: 'v8-wasm', version: 'test' }),
      jobs: { running: 0, run: async () => { throw new Error('B runs nothing here') } }
    }, netInit())
    await b.start()
    await b.dial(tcpOf(a.net))
    await b.dial(tcpOf(small.net))
  }, 60_000)
  afterAll(async () => {
    await b?.stop()
    await small?.net.stop()
    await a?.net.stop()
  })

  const run = async (node: NodeA, job: ReturnType<typeof jobWith>): ReturnType<PhaseNetwork['runRemote']> =>
    await b.runRemote(job.manifest, noModule, { peerId: node.net.peerId, timeoutMs: 30_000, loadInput: job.loadInput })

  it('sends the input files the peer lacks, and returns output files checked against the receipt', async () => {
    const big = randomBytes(3 * MiB + 17)
    const job = jobWith([{ path: '/in/data.bin', data: big }, { path: '/in/cfg/a.txt', data: enc.encode('alpha') }])
    const r = await run(a, job)
    expect(job.asked.sort()).toEqual([contentHash(big), contentHash(enc.encode('alpha'))].sort())
    expect(a.received.at(-1)!.sort()).toEqual(job.asked.sort())
    // Files in the receipt's order, bytes as A wrote them.
    expect(r.outputs!.map((o) => o.path)).toEqual(['/out/copy/data.bin', '/out/sum.txt'])
    expect(Buffer.compare(r.outputs![0]!.data, big)).toBe(0)
    expect(new TextDecoder().decode(r.outputs![1]!.data)).toBe(`${big.length}+5`)
  }, 60_000)

  it('sends only the hash of an input file the peer already holds', async () => {
    const data = randomBytes(1000)
    const first = jobWith([{ path: '/in/x', data }])
    await run(a, first)
    expect(first.asked).toEqual([contentHash(data)])
    const again = jobWith([{ path: '/in/x', data }])
    const r = await run(a, again)
    expect(again.asked).toEqual([])
    expect(a.received.at(-1)).toEqual([])
    expect(r.outputs!.length).toBe(2)
  }, 60_000)

  const lies: Array<[Behaviour['lie'], string]> = [
    ['bytes', 'an output file whose bytes are not what its receipt lists'],
    ['extra', 'an output file its receipt does not list'],
    ['missing', 'no bytes for a file its receipt lists']
  ]
  for (const [lie, what] of lies) it(`refuses a peer that sends ${what} as verification_failed`, async () => {
    a.behaviour.lie = lie
    try {
      const err = await run(a, jobWith([{ path: '/in/y', data: randomBytes(100) }])).then(() => undefined, (e: unknown) => e)
      expect(isPhaseError(err, 'verification_failed')).toBe(true)
      expect((err as VerificationError).check).toBe('outputs')
    } finally {
      delete a.behaviour.lie
    }
  }, 60_000)

  it('refuses input files over the peer\'s per-job cap with limit_exceeded, and the peer gives their bytes back', async () => {
    const err = await run(small, jobWith([{ path: '/in/big', data: randomBytes(MiB + 1) }])).then(() => undefined, (e: unknown) => e)
    expect(isPhaseError(err, 'limit_exceeded')).toBe(true)
    await waitFor(() => small.net.load().inflightBytes === 0 && small.net.load().remoteJobs === 0, { what: 'the small peer to give the refused bytes back', intervalMs: 20 })
    // Within the cap: served.
    const r = await run(small, jobWith([{ path: '/in/ok', data: randomBytes(MiB - 1) }]))
    expect(r.outputs!.length).toBe(2)
    expect(DEFAULT_MAX_INPUT_BYTES).toBeGreaterThanOrEqual(50 * 1000 * 1000)
  }, 60_000)

  it('refuses input bytes that are not what their hash says with hash_mismatch, and the stream goes on', async () => {
    const data = randomBytes(500)
    const job = jobWith([{ path: '/in/z', data }])
    const lying = { ...job, loadInput: async () => randomBytes(500) }
    const raw = await rawPeer()
    try {
      const ch = jobChannel(await raw.dialProtocol(multiaddrOf(a.net), JOB_PROTOCOL_2), 4 * MiB)
      expect(await codeOf(runJob2(ch, job.manifest, noModule, { loadInput: lying.loadInput }))).toBe('hash_mismatch')
      // Same stream, honest bytes: served.
      const honest = jobWith([{ path: '/in/z', data }])
      expect((await runJob2(ch, honest.manifest, noModule, { loadInput: honest.loadInput })).status).toBe('ok')
      ch.stream.abort(new Error('done'))
    } finally {
      await raw.stop()
    }
  }, 60_000)

  it('sends nothing a peer asks for that the job does not name', async () => {
    const server = await rawPeer(['/ip4/127.0.0.1/tcp/0'])
    const client = await rawPeer()
    const secret = randomBytes(64)
    let leaked = false
    await server.handle(JOB_PROTOCOL_2, async (stream: Stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(enc.encode(JSON.stringify({ type: 'need', module: false, inputs: [contentHash(secret)] })))
      leaked = await lp.read({ signal: AbortSignal.timeout(5000) }).then(() => true, () => false)
    })
    try {
      const ch = jobChannel(await client.dialProtocol(server.getMultiaddrs()[0]!, JOB_PROTOCOL_2), MiB)
      const job = jobWith([{ path: '/in/public', data: enc.encode('public') }])
      const load = async (hash: string): Promise<Uint8Array> => hash === contentHash(secret) ? secret : await job.loadInput(hash)
      expect(await codeOf(runJob2(ch, job.manifest, noModule, { loadInput: load }))).toBe('unavailable')
      expect(job.asked).toEqual([])
      expect(leaked).toBe(false)
    } finally {
      await client.stop()
      await server.stop()
    }
  }, 60_000)
})

describe('replica agreement', () => {
  const receipt = (doc: Record<string, unknown>): Uint8Array => enc.encode(JSON.stringify(doc))
  const run = (doc: Record<string, unknown>): Parameters<typeof agreementKey>[0] => ({ status: 'ok', exitCode: 0, stdout: enc.encode('same'), stderr: EMPTY, receiptJson: receipt(doc) })
  const file = (hash: string): Array<{ path: string, hash: string, bytes: number }> => [{ path: '/out/r', hash, bytes: 3 }]

  it('tells apart runs with the same stdout but different output files or fuel used', () => {
    const base = agreementKey(run({ outputs: file(`sha256:${'1'.repeat(64)}`), fuel_used: 10 }))
    expect(agreementKey(run({ outputs: file(`sha256:${'1'.repeat(64)}`), fuel_used: 10 }))).toBe(base)
    expect(agreementKey(run({ outputs: file(`sha256:${'2'.repeat(64)}`), fuel_used: 10 }))).not.toBe(base)
    expect(agreementKey(run({ outputs: file(`sha256:${'1'.repeat(64)}`), fuel_used: 11 }))).not.toBe(base)
    expect(agreementKey(run({ fuel_used: 10 }))).not.toBe(base)
  })
})

async function rawPeer (listen: string[] = []): Promise<Libp2p> {
  return await createLibp2p({ addresses: { listen }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } }) as unknown as Libp2p
}
const multiaddrOf = (net: PhaseNetwork): ReturnType<Libp2p['getMultiaddrs']>[number] => multiaddr(tcpOf(net))
const codeOf = async (call: Promise<unknown>): Promise<string> => await call.then(() => 'none', (err: unknown) => isPhaseError(err) ? err.code : `untyped ${(err as Error)?.name}`)
