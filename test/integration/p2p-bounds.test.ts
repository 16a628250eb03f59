/**
 * What a peer can make the p2p layer wait for or log, on loopback with a real PhaseNetwork and a
 * bare libp2p peer: job-stream bytes that are not a length-prefixed frame (a length prefix that
 * never ends, a frame cut short, a stream closed before its offer) are typed refusals logged at
 * info, never `internal` nor an error line; FindExecutors answers at once when no peer is
 * connected, and ends at its own lookup deadline when no connected peer speaks the DHT, even
 * when the caller's signal never aborts (a gRPC call without a deadline). As a client, a peer's
 * malformed, cut or missing capability record or answer is a typed error within a bounded wait.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { captureLog } from '../helpers/log-capture.ts'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { lpStream } from '@libp2p/utils'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { PhaseNetwork, JOB_PROTOCOL, CAPABILITY_PROTOCOL, type NetworkComponents } from '../../services/discovery/src/p2p/index.ts'
import { fetchCapability, offerJob } from '../../services/discovery/src/p2p/job-protocol.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import type { Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import type { Logger } from '../../services/core/process/src/logger.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'
import { EVENT_LOG_EVERY_MS } from '../../services/core/process/src/event-log.ts'

const MiB = 1024 * 1024
const LIMITS = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 5000, defaultTimeoutMs: 5000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 }
const dec = new TextDecoder()

/** Every log line of the node, parsed (level 30 info, 50 error). */
const lines: Array<{ level: number, msg: string, code?: string, count?: number }> = []
function capturingLogger (): Logger {
  return captureLog('debug', lines).logger
}

async function network (options: { lookupTimeoutMs?: number, readTimeoutMs?: number, jobs?: NetworkComponents['jobs'] } = {}): Promise<PhaseNetwork> {
  const net = new PhaseNetwork({
    logger: capturingLogger(),
    privateKey: await generateKeyPair('Ed25519'),
    // With a job runner the module is "cached"; without one no test gets as far as a job.
    modules: { has: () => options.jobs !== undefined },
    receiptKey: async () => 'ed25519:test',
    runtime: async () => ({ name: 'v8-wasm', version: 'test' }),
    jobs: options.jobs ?? { running: 0, run: async () => { throw new Error('no job expected') } }
  }, {
    listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false, relayServer: false, upnp: false,
    privateAddresses: true, maxConnections: 50, inboundPerSecond: 1000, maxRemoteJobs: 4, perPeerConcurrency: 4, perPeerPerSecond: 1000,
    limits: LIMITS, maxMessageBytes: 4 * MiB, readTimeoutMs: options.readTimeoutMs ?? 30_000, ...(options.lookupTimeoutMs !== undefined ? { lookupTimeoutMs: options.lookupTimeoutMs } : {})
  })
  await net.start()
  return net
}

/** A bare libp2p peer (no DHT): the attacker's own tools. */
async function rawPeer (listen: string[] = []): Promise<Libp2p> {
  return await createLibp2p({ addresses: { listen }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } }) as unknown as Libp2p
}

const tcpOf = (net: PhaseNetwork): string => net.addresses().find((a) => a.includes('/tcp/'))!

describe('job protocol framing', () => {
  let node: PhaseNetwork
  let peer: Libp2p
  beforeAll(async () => {
    node = await network()
    peer = await rawPeer()
  }, 60_000)
  afterAll(async () => {
    await peer?.stop()
    await node?.stop()
  })

  /** Sends `bytes` on a job stream (then closes our side when `close`), returns the node's answer. */
  async function answerTo (bytes: Uint8Array, close: boolean): Promise<Record<string, unknown>> {
    const stream = await peer.dialProtocol(multiaddr(tcpOf(node)), JOB_PROTOCOL)
    try {
      if (bytes.length > 0) stream.send(bytes)
      if (close) await stream.close()
      const lp = lpStream(stream, { maxDataLength: MiB })
      return JSON.parse(dec.decode((await lp.read({ signal: AbortSignal.timeout(60_000) })).subarray())) as Record<string, unknown>
    } finally {
      stream.abort(new Error('done'))
    }
  }

  it('refuses a length prefix that never ends (high bits set, stream left open) from its first bytes, not at the read deadline', async () => {
    // 64 KiB of continuation bytes: the node must stop at the longest prefix a 4 MiB cap needs
    // (4 bytes), not read (and keep) them one by one until its 30 s read deadline.
    const answer = await answerTo(new Uint8Array(64 * 1024).fill(0x80), false)
    expect(answer).toMatchObject({ type: 'error', code: 'module_too_large' })
  }, 60_000)

  it('answers a frame shorter than its length prefix, then closed, with invalid_json', async () => {
    const answer = await answerTo(Uint8Array.from([0x20, 0x7b, 0x22]), true)
    expect(answer).toMatchObject({ type: 'error', code: 'invalid_json' })
  }, 60_000)

  it('answers a stream closed before any offer, or inside its length prefix, with invalid_json', async () => {
    expect(await answerTo(new Uint8Array(0), true)).toMatchObject({ type: 'error', code: 'invalid_json' })
    expect(await answerTo(Uint8Array.from([0xff]), true)).toMatchObject({ type: 'error', code: 'invalid_json' })
  }, 60_000)

  it('logs framing refusals at info, never as errors, a line per period however many come', async () => {
    // Its own refusals, not the cases' above: a period is waited out first, so what those left
    // pending has been written before this flood begins.
    await new Promise((resolve) => setTimeout(resolve, EVENT_LOG_EVERY_MS + 200))
    const from = lines.length
    const flood = 40
    for (let i = 0; i < flood / 4; i++) {
      await answerTo(new Uint8Array(64 * 1024).fill(0x80), false)
      await answerTo(Uint8Array.from([0x20, 0x7b, 0x22]), true)
      await answerTo(new Uint8Array(0), true)
      await answerTo(Uint8Array.from([0xff]), true)
    }
    // This logger is at debug, so each refusal is also a debug line of its own (level 20).
    const refusedSince = (): typeof lines => lines.slice(from).filter((l) => l.msg === 'remote job refused' && l.level > 20)
    const counted = (): number => refusedSince().reduce((n, l) => n + (l.count ?? 0), 0)
    // Written at once or when the period ends.
    await waitFor(() => counted() >= flood, { what: `${flood} refusals counted in the log`, timeoutMs: EVENT_LOG_EVERY_MS * 3 }).catch(() => {}) // the expects below give the figures
    const refused = refusedSince()
    const errors = lines.filter((l) => l.level >= 50)
    figure('peers', 'job-stream framing refusals logged at error level', errors.length, errors.length === 0 ? 'pass' : 'FAIL')
    figure('peers', `log lines for ${flood} refused job streams`, refused.length, refused.length <= 3 ? 'pass' : 'FAIL')
    expect(counted()).toBe(flood)
    expect(lines.slice(from).filter((l) => l.msg === 'remote job refused' && l.level === 20).length).toBe(flood)
    expect(refused.length).toBeLessThanOrEqual(3)
    expect(refused.every((l) => l.level === 30)).toBe(true)
    expect(errors).toEqual([])
  }, EVENT_LOG_EVERY_MS * 5)
})

describe('PhaseNetwork.findExecutors', () => {
  let alone: PhaseNetwork
  let stranded: PhaseNetwork
  let peer: Libp2p
  beforeAll(async () => {
    alone = await network()
    stranded = await network({ lookupTimeoutMs: 1000 })
    peer = await rawPeer()
    await peer.dial(multiaddr(tcpOf(stranded)))
    // The dialer's side resolves first: wait until the node counts the connection too.
    await waitFor(() => stranded.counters().peers > 0, { what: 'the stranded node to count the connection', intervalMs: 20 })
  }, 60_000)
  afterAll(async () => {
    await peer?.stop()
    await stranded?.stop()
    await alone?.stop()
  })

  // A signal that never aborts, as a gRPC call without a deadline gives.
  const forever = (): AbortSignal => new AbortController().signal

  it('answers unavailable at once when no peer is connected', async () => {
    await expect(alone.findExecutors({}, { signal: forever() })).rejects.toMatchObject({ code: 'unavailable' })
    await expect(alone.findExecutors({ runtime: 'v8-wasm' })).rejects.toMatchObject({ code: 'unavailable' })
  }, 60_000)

  it('ends at its own lookup deadline with unavailable when no connected peer speaks the DHT', async () => {
    // kad-dht waits for a first routing-table peer; the raw peer never becomes one.
    const started = performance.now()
    await expect(stranded.findExecutors({}, { signal: forever() })).rejects.toMatchObject({ code: 'unavailable' })
    figure('peers', 'FindExecutors with no DHT peer, caller without deadline: answered after (lookup deadline 1 s)', Math.round(performance.now() - started), 'ms')
  }, 60_000)

  it('answers cancelled when the caller gives up first', async () => {
    const caller = new AbortController()
    const lookup = stranded.findExecutors({}, { signal: caller.signal })
    caller.abort()
    await expect(lookup).rejects.toMatchObject({ code: 'cancelled' })
  }, 60_000)
})

describe('job and capability protocol clients', () => {
  let server: Libp2p
  let client: Libp2p
  /** What the server peer does on each protocol, set by each test. */
  let behaviour: (stream: Stream) => Promise<void> = async () => {}
  beforeAll(async () => {
    server = await rawPeer(['/ip4/127.0.0.1/tcp/0'])
    client = await rawPeer()
    for (const protocol of [CAPABILITY_PROTOCOL, JOB_PROTOCOL]) await server.handle(protocol, async (stream) => { await behaviour(stream) })
  }, 60_000)
  afterAll(async () => {
    await client?.stop()
    await server?.stop()
  })

  const open = async (protocol: string): Promise<Stream> => await client.dialProtocol(server.getMultiaddrs()[0]!, protocol)
  /** The code of the error `call` fails with ('none' when it does not fail, the name when untyped). */
  const codeOf = async (call: Promise<unknown>): Promise<string> => await call.then(() => 'none', (err: unknown) => isPhaseError(err) ? err.code : `untyped ${(err as Error)?.name}`)

  it('types every malformed or missing capability record (never untyped) and bounds the wait for it', async () => {
    const cases: Array<[string, (stream: Stream) => Promise<void>, string]> = [
      ['closed at once', async (s) => { await s.close() }, 'unavailable'],
      ['frame cut short', async (s) => { s.send(Uint8Array.from([0x40, 0x7b])); await s.close() }, 'unavailable'],
      ['length prefix that never ends', async (s) => { s.send(new Uint8Array(1024).fill(0xff)) }, 'module_too_large'],
      ['announces 2 MiB', async (s) => { s.send(Uint8Array.from([0x80, 0x80, 0x80, 0x01])) }, 'module_too_large'],
      ['silent', async () => {}, 'deadline_exceeded']
    ]
    const got: string[] = []
    for (const [what, act, code] of cases) {
      behaviour = act
      got.push(`${what}: ${await codeOf(fetchCapability(await open(CAPABILITY_PROTOCOL), undefined, 500))}`)
      expect(got.at(-1)).toBe(`${what}: ${code}`)
    }
  }, 60_000)

  it('types a peer\'s refusal with `internal`, an unknown code or no code as unavailable, and a cut answer too', async () => {
    const manifest = { version: 1, module_hash: `sha256:${'0'.repeat(64)}`, nonce: '00'.repeat(16) } as unknown as Manifest
    const answer = (doc: unknown) => async (s: Stream): Promise<void> => {
      const lp = lpStream(s)
      await lp.read()
      await lp.write(new TextEncoder().encode(JSON.stringify(doc)))
      await s.close()
    }
    const cases: Array<[string, (stream: Stream) => Promise<void>, string]> = [
      ['internal', answer({ type: 'error', code: 'internal', message: 'boom' }), 'unavailable'],
      ['unknown code', answer({ type: 'error', code: 'no_such_code' }), 'unavailable'],
      ['no code', answer({ type: 'whatever' }), 'unavailable'],
      ['typed refusal kept', answer({ type: 'reject', code: 'queue_full', message: 'busy' }), 'queue_full'],
      ['closed before answering', async (s) => { await lpStream(s).read(); await s.close() }, 'unavailable'],
      ['silent', async (s) => { await lpStream(s).read() }, 'deadline_exceeded']
    ]
    for (const [what, act, code] of cases) {
      behaviour = act
      const outcome = await codeOf(offerJob(await open(JOB_PROTOCOL), manifest, async () => new Uint8Array(0), { maxMessageBytes: MiB, readTimeoutMs: 500 }))
      expect(`${what}: ${outcome}`).toBe(`${what}: ${code}`)
    }
    // A refusal whose words are not text (a lone surrogate, as JSON "\ud800" parses) or that
    // would reorder a terminal (U+202E): escaped, so the message is well-formed for the gRPC
    // status it becomes (grpc-js's encodeURI threw on it) and for logs.
    behaviour = answer({ type: 'reject', code: 'queue_full', message: 'busy \ud800 \u202egnp.exe' })
    const err = await offerJob(await open(JOB_PROTOCOL), manifest, async () => new Uint8Array(0), { maxMessageBytes: MiB, readTimeoutMs: 500 }).then(() => { throw new Error('the job was taken') }, (e: unknown) => e as Error & { code: string })
    expect(err.code).toBe('queue_full')
    expect(err.message).toBe('peer refused: busy \\ud800 \\u202egnp.exe')
    expect(err.message.isWellFormed()).toBe(true)
  }, 60_000)
})

describe('job server writes', () => {
  let node: PhaseNetwork
  let peer: Libp2p
  const STDOUT = 400 * 1024
  beforeAll(async () => {
    // A job whose result (≈ 550 kB of JSON) is larger than a yamux window (256 KiB).
    node = await network({
      readTimeoutMs: 1000,
      jobs: { running: 0, run: async () => ({ jobId: 'j', status: 'ok', exitCode: 0, stdout: new Uint8Array(STDOUT), stderr: new Uint8Array(0), receiptJson: new Uint8Array(2) }) as never }
    })
    peer = await rawPeer()
  }, 60_000)
  afterAll(async () => {
    await peer?.stop()
    await node?.stop()
  })

  it('frees the job slot of a peer that stops reading its result (flow control), at the write deadline', async () => {
    const stream = await peer.dialProtocol(multiaddr(tcpOf(node)), JOB_PROTOCOL)
    const offer = { type: 'offer', version: 1, manifest: { version: 1, module_hash: `sha256:${'0'.repeat(64)}`, nonce: '11'.repeat(16) } }
    await lpStream(stream).write(new TextEncoder().encode(JSON.stringify(offer)))
    // The peer takes nothing more: no window updates, so the node's write never drains.
    stream.pause()
    await waitFor(() => node.load().remoteJobs > 0, { what: 'the node to take the offered job', intervalMs: 20 })
    const started = performance.now()
    // Without a write deadline the slot (and the stream) are held for as long as the peer likes.
    await waitFor(() => node.load().remoteJobs === 0 && node.load().streams === 0, { what: 'the node to free the slot and the stream of the peer that stopped reading', timeoutMs: 100_000, intervalMs: 100 })
    figure('peers', 'job slot of a peer that stops reading a 550 kB result: freed after (read deadline 1 s + 64 KiB/s)', Math.round(performance.now() - started), 'ms')
    stream.abort(new Error('done'))
  }, 120_000)
})
