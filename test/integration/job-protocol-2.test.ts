/**
 * `/phase/job/2.0.0` on loopback, a real PhaseNetwork serving and a bare libp2p peer as the
 * client (its own tools, or the node's JobStreams): several jobs on one stream at one round trip
 * each, the module asked for only when missing, typed capacity refusals that leave the stream
 * usable, and every bound of the reused stream — the per-peer cap on open job streams, the idle
 * deadline, the read deadline inside a job, the inbound byte budget given back per job (and
 * still enforced on a stream that stays open), the per-job concurrency limit. The client side:
 * its pool reuses streams, stays bounded, sends again on a new stream when the peer ended an
 * idle one, and still speaks 1.0.0 to a peer that only speaks that.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { lpStream } from '@libp2p/utils'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { PhaseNetwork, JOB_PROTOCOL, JOB_PROTOCOL_2, type NetworkComponents } from '../../services/discovery/src/p2p/index.ts'
import { jobChannel, runJob2, type JobChannel } from '../../services/discovery/src/p2p/job-protocol-2.ts'
import { JobStreams } from '../../services/discovery/src/p2p/job-streams.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import type { Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { waitFor } from '../helpers/wait-for.ts'

const MiB = 1024 * 1024
const LIMITS = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 5000, defaultTimeoutMs: 5000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 }
const enc = new TextEncoder()
const dec = new TextDecoder()
const HASH = `sha256:${'ab'.repeat(32)}`
let nonce = 0
const manifest = (): Manifest => ({ version: 1, module_hash: HASH, nonce: (nonce++).toString(16).padStart(32, '0') }) as unknown as Manifest
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** What the fake runner saw, and how it behaves (set per test). */
interface Runner { calls: number, modules: number, hold: number, cached: boolean }

function runnerOf (r: Runner): NetworkComponents['jobs'] {
  return {
    running: 0,
    run: async (req) => {
      r.calls++
      if ((req as { module?: Uint8Array }).module !== undefined) r.modules++
      if (r.hold > 0) await sleep(r.hold) // a job that takes this long: the runner's work, not a wait
      return { jobId: `j${r.calls}`, status: 'ok', exitCode: 0, stdout: enc.encode('out'), stderr: new Uint8Array(0), receiptJson: enc.encode('{}') } as never
    }
  }
}

async function network (runner: Runner, init: { readTimeoutMs?: number, perPeerConcurrency?: number, maxRemoteJobs?: number, maxInflightBytes?: number } = {}): Promise<PhaseNetwork> {
  const net = new PhaseNetwork({
    logger: silentLogger(),
    privateKey: await generateKeyPair('Ed25519'),
    modules: { has: () => runner.cached },
    receiptKey: async () => 'ed25519:test',
    runtime: async () => ({ name: 'v8-wasm', version: 'test' }),
    jobs: runnerOf(runner)
  }, {
    listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false, relayServer: false, upnp: false,
    privateAddresses: true, maxConnections: 50, inboundPerSecond: 1000, maxRemoteJobs: init.maxRemoteJobs ?? 8,
    perPeerConcurrency: init.perPeerConcurrency ?? 4, perPeerPerSecond: 10_000,
    limits: LIMITS, maxMessageBytes: 4 * MiB, readTimeoutMs: init.readTimeoutMs ?? 30_000, maxInflightBytes: init.maxInflightBytes
  })
  await net.start()
  return net
}

async function rawPeer (listen: string[] = []): Promise<Libp2p> {
  return await createLibp2p({ addresses: { listen }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } }) as unknown as Libp2p
}

const tcpOf = (net: PhaseNetwork): ReturnType<typeof multiaddr> => multiaddr(net.addresses().find((a) => a.includes('/tcp/'))!)
const noModule = async (): Promise<Uint8Array> => { throw new Error('the module should not be asked for') }
const codeOf = async (call: Promise<unknown>): Promise<string> => await call.then(() => 'none', (err: unknown) => isPhaseError(err) ? err.code : `untyped ${(err as Error)?.name}`)
async function until (cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(cond, { what, timeoutMs, intervalMs: 20 })
}

describe('job protocol 2.0.0 server', () => {
  const runner: Runner = { calls: 0, modules: 0, hold: 0, cached: true }
  let node: PhaseNetwork
  let peer: Libp2p
  beforeAll(async () => {
    // Inbound budget 8 MiB, 4 MiB for one peer (the message cap is 4 MiB).
    node = await network(runner, { readTimeoutMs: 1500, perPeerConcurrency: 2, maxInflightBytes: 8 * MiB })
    peer = await rawPeer()
  }, 60_000)
  afterAll(async () => {
    await peer?.stop()
    await node?.stop()
  })
  const channel = async (): Promise<JobChannel> => jobChannel(await peer.dialProtocol(tcpOf(node), JOB_PROTOCOL_2), MiB)

  it('serves several jobs on one stream, and asks for the module only when it lacks it', async () => {
    const ch = await channel()
    const before = runner.calls
    const modulesBefore = runner.modules
    for (let i = 0; i < 3; i++) expect((await runJob2(ch, manifest(), noModule, {})).status).toBe('ok')
    runner.cached = false
    let asked = 0
    const r = await runJob2(ch, manifest(), async () => { asked++; return new Uint8Array([0, 97, 115, 109]) }, {})
    runner.cached = true
    expect(r.status).toBe('ok')
    expect(asked).toBe(1)
    expect(runner.calls - before).toBe(4)
    expect(runner.modules - modulesBefore).toBe(1)
    expect(ch.stream.status).toBe('open')
    ch.stream.abort(new Error('done'))
  }, 60_000)

  it('gives a job\'s bytes back to the inbound budget when the job is done, while its stream stays open', async () => {
    const ch = await channel()
    for (let i = 0; i < 3; i++) await runJob2(ch, manifest(), noModule, {})
    // Without the per-job give-back the stream would hold every job's bytes until it ends.
    await until(() => node.load().inflightBytes === 0, 'the node to give back every inbound byte')
    expect(node.load().streams).toBeGreaterThanOrEqual(1)
    expect(ch.stream.status).toBe('open')
    ch.stream.abort(new Error('done'))
  }, 60_000)

  it('ends a stream left idle after a job at the read deadline', async () => {
    const ch = await channel()
    await runJob2(ch, manifest(), noModule, {})
    const started = performance.now()
    await until(() => ch.stream.remoteWriteStatus !== 'writable' || ch.stream.status !== 'open', 'the node to end the idle stream')
    // The read deadline is 1.5 s: not before it, and (generously) not much after.
    expect(performance.now() - started).toBeGreaterThan(1000)
    await until(() => node.load().streams === 0, 'the node to hold no job stream')
    ch.stream.abort(new Error('done'))
  }, 60_000)

  it('ends the stream and frees the slot when the peer never sends the module it was asked for', async () => {
    runner.cached = false
    try {
      const ch = await channel()
      await lpStream(ch.stream).write(enc.encode(JSON.stringify({ type: 'job', version: 2, manifest: manifest() })))
      const answer = JSON.parse(dec.decode((await ch.lp.read({ signal: AbortSignal.timeout(30_000) })).subarray()))
      expect(answer).toMatchObject({ type: 'need', module: true })
      expect(node.load().remoteJobs).toBe(1)
      // The module never comes: at the read deadline (1.5 s) the slot is free and the stream ends.
      await until(() => node.load().remoteJobs === 0 && node.load().streams === 0, 'the node to free the job slot and end the stream')
      ch.stream.abort(new Error('done'))
    } finally {
      runner.cached = true
    }
  }, 60_000)

  it('refuses a job over the peer\'s concurrency with a typed queue_full, and the stream carries the next job', async () => {
    await until(() => node.load().streams === 0, 'the node to hold no job stream')
    runner.hold = 800
    try {
      const chans = await Promise.all([channel(), channel(), channel()])
      const codes = await Promise.all(chans.map(async (ch) => await codeOf(runJob2(ch, manifest(), noModule, {}))))
      // Per-peer concurrency 2: two run, the third is refused (cheaply, without running).
      expect(codes.sort()).toEqual(['none', 'none', 'queue_full'])
      runner.hold = 0
      for (const ch of chans) expect((await runJob2(ch, manifest(), noModule, {})).status).toBe('ok')
      for (const ch of chans) ch.stream.abort(new Error('done'))
    } finally {
      runner.hold = 0
    }
  }, 60_000)

  it('refuses a peer\'s job stream beyond its cap of open job streams (its concurrency + 4) with queue_full', async () => {
    await until(() => node.load().streams === 0, 'the node to hold no job stream')
    const held = await Promise.all([0, 1, 2, 3, 4, 5].map(async () => await channel()))
    for (const ch of held) await runJob2(ch, manifest(), noModule, {})
    const seventh = await channel()
    expect(await codeOf(runJob2(seventh, manifest(), noModule, {}))).toBe('queue_full')
    // The refused stream is ended by the node.
    await until(() => seventh.stream.status !== 'open', 'the node to end the refused stream')
    // Closing one makes room.
    for (const ch of held) ch.stream.abort(new Error('done'))
    await until(() => node.load().streams === 0, 'the node to hold no job stream')
    const fourth = await channel()
    expect((await runJob2(fourth, manifest(), noModule, {})).status).toBe('ok')
    fourth.stream.abort(new Error('done'))
  }, 60_000)

  it('refuses a message over the cap from its length prefix, on a stream that already served a job', async () => {
    await until(() => node.load().streams === 0, 'the node to hold no job stream')
    const ch = await channel()
    await runJob2(ch, manifest(), noModule, {})
    // A length prefix announcing 8 MiB (cap 4 MiB).
    ch.stream.send(Uint8Array.from([0x80, 0x80, 0x80, 0x04]))
    const answer = JSON.parse(dec.decode((await ch.lp.read({ signal: AbortSignal.timeout(30_000) })).subarray()))
    expect(answer).toMatchObject({ type: 'error', code: 'module_too_large' })
    ch.stream.abort(new Error('done'))
  }, 60_000)

  it('aborts a stream whose pipelined jobs exceed the bytes one peer may hold, and gives them all back', async () => {
    runner.hold = 3000
    try {
      await until(() => node.load().streams === 0, 'the node to hold no job stream')
      const ch = await channel()
      const job = enc.encode(JSON.stringify({ type: 'job', version: 2, manifest: manifest(), pad: 'x'.repeat(3 * MiB) }))
      const lp = lpStream(ch.stream)
      // The first job runs (held 3 s) with its 3 MiB charged; the second's 3 MiB would make 6 MiB
      // for this peer (its share: 4 MiB). Each alone fits the message cap and the read buffer.
      await lp.write(job, { signal: AbortSignal.timeout(30_000) })
      await until(() => runner.calls > 0 && node.load().remoteJobs === 1, 'the first pipelined job to run')
      await lp.write(job, { signal: AbortSignal.timeout(30_000) }).catch(() => {})
      await until(() => ch.stream.status !== 'open', 'the node to abort the stream over its byte share (within 2.5 s, before the held job ends)', 2500)
      await until(() => node.load().inflightBytes === 0 && node.load().streams === 0, 'the node to give back every byte and end the stream')
    } finally {
      runner.hold = 0
    }
  }, 60_000)
})

describe('job streams (client pool)', () => {
  const runner: Runner = { calls: 0, modules: 0, hold: 0, cached: true }
  let node: PhaseNetwork
  let shortNode: PhaseNetwork
  let oldPeer: Libp2p
  let client: Libp2p
  let opened: string[] = []
  beforeAll(async () => {
    node = await network(runner)
    // Ends idle streams after 500 ms: sooner than the client's pool expects.
    shortNode = await network(runner, { readTimeoutMs: 500 })
    // An older node: speaks 1.0.0 only (accept, then a result).
    oldPeer = await rawPeer(['/ip4/127.0.0.1/tcp/0'])
    await oldPeer.handle(JOB_PROTOCOL, async (stream: Stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(enc.encode(JSON.stringify({ type: 'accept', need_module: false })))
      await lp.write(enc.encode(JSON.stringify({ type: 'result', job_id: 'old', status: 'ok', exit_code: 0, stdout_base64: '', stderr_base64: '', receipt_json: '{}' })))
      await stream.close()
    })
    client = await rawPeer()
  }, 60_000)
  afterAll(async () => {
    await client?.stop()
    await oldPeer?.stop()
    await shortNode?.stop()
    await node?.stop()
  })

  const pool = (init: { idleMs?: number, maxIdlePerPeer?: number } = {}): JobStreams => new JobStreams(async (peer, protocols, signal) => {
    const stream = await client.dialProtocol(peer, protocols, { signal })
    opened.push(stream.protocol ?? '')
    return stream
  }, { maxMessageBytes: MiB, readTimeoutMs: 5000, ...init })
  const dialed = async (ma: ReturnType<typeof multiaddr>): Promise<Parameters<JobStreams['run']>[0]> => (await client.dial(ma)).remotePeer

  it('runs sequential jobs on one stream', async () => {
    opened = []
    const streams = pool()
    const id = await dialed(tcpOf(node))
    for (let i = 0; i < 5; i++) expect((await streams.run(id, manifest(), noModule, { signal: AbortSignal.timeout(30_000) })).status).toBe('ok')
    expect(opened).toEqual([JOB_PROTOCOL_2])
    expect(streams.size).toBe(1)
    streams.drop()
    expect(streams.size).toBe(0)
  }, 60_000)

  it('keeps at most maxIdlePerPeer idle streams after a burst', async () => {
    opened = []
    runner.hold = 300
    try {
      const streams = pool({ maxIdlePerPeer: 2 })
      const id = await dialed(tcpOf(node))
      await Promise.all([0, 1, 2, 3].map(async () => await streams.run(id, manifest(), noModule, { signal: AbortSignal.timeout(30_000) })))
      expect(opened.length).toBe(4)
      expect(streams.size).toBe(2)
      streams.drop()
    } finally {
      runner.hold = 0
    }
  }, 60_000)

  it('sends the job again on a new stream when the peer ended the idle one', async () => {
    opened = []
    const streams = pool({ idleMs: 60_000 })
    const id = await dialed(tcpOf(shortNode))
    await streams.run(id, manifest(), noModule, { signal: AbortSignal.timeout(30_000) })
    await until(() => shortNode.load().streams === 0, 'the short node to end the idle stream (its read deadline: 500 ms)')
    expect((await streams.run(id, manifest(), noModule, { signal: AbortSignal.timeout(30_000) })).status).toBe('ok')
    expect(opened).toEqual([JOB_PROTOCOL_2, JOB_PROTOCOL_2])
    streams.drop()
  }, 60_000)

  it('aborts a pooled stream, and drops it from the pool, when the peer sends bytes on it while idle', async () => {
    const chatty = await rawPeer(['/ip4/127.0.0.1/tcp/0'])
    let junk = (): void => {}
    await chatty.handle(JOB_PROTOCOL_2, async (stream: Stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(enc.encode(JSON.stringify({ type: 'result', job_id: 'j', status: 'ok', exit_code: 0, stdout_base64: '', stderr_base64: '', receipt_json: '{}' })))
      // Then, unasked, 64 KiB at a time: a pooled reader would keep them all.
      junk = () => { for (let i = 0; i < 16; i++) stream.send(new Uint8Array(64 * 1024)) }
    })
    try {
      opened = []
      const streams = pool()
      const id = await dialed(chatty.getMultiaddrs()[0]!)
      await streams.run(id, manifest(), noModule, { signal: AbortSignal.timeout(30_000) })
      expect(streams.size).toBe(1)
      junk()
      await until(() => streams.size === 0, 'the pool to drop the stream the peer wrote junk on')
      // The next job opens a new stream.
      await streams.run(id, manifest(), noModule, { signal: AbortSignal.timeout(30_000) })
      expect(opened).toEqual([JOB_PROTOCOL_2, JOB_PROTOCOL_2])
      streams.drop()
    } finally {
      await chatty.stop()
    }
  }, 60_000)

  it('speaks 1.0.0, one stream per job, to a peer that only speaks that', async () => {
    opened = []
    const streams = pool()
    const id = await dialed(oldPeer.getMultiaddrs()[0]!)
    for (let i = 0; i < 2; i++) expect((await streams.run(id, manifest(), noModule, { signal: AbortSignal.timeout(30_000) })).jobId).toBe('old')
    expect(opened).toEqual([JOB_PROTOCOL, JOB_PROTOCOL])
    expect(streams.size).toBe(0)
  }, 60_000)
})
