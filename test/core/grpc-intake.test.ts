/**
 * GrpcServer with an Intake, on a real unix socket: a call that never finishes sending ends with
 * DEADLINE_EXCEEDED request_timeout, a message past the budget with RESOURCE_EXHAUSTED overloaded
 * (and a grpc-js client reads that status although it was still sending), a client that never
 * reads its answer does not keep the budget, and multiplexed streams are left alone. With a cap on
 * client-stream messages (the public SubmitJobStream): a message declaring more is refused from its
 * header, one that stalls half-sent times out, a stream runs at most its cap of calls at once, and
 * a multiplexing client falls back to unary calls against a server without the stream. A stream
 * idle past `streamIdleMs` is ended with OK, and a client sends calls such an end left unanswered
 * again on a new stream, once.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create, toBinary } from '@bufbuild/protobuf'
import * as grpc from '@grpc/grpc-js'
import { SignerService, SignReceiptRequestSchema, SignReceiptResponseSchema, SignReceiptStreamRequestSchema, SignReceiptStreamResponseSchema } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { GrpcServer, createGrpcClient, type ServiceImpl } from '../../services/core/rpc/src/index.ts'
import { Intake } from '../../services/core/rpc/src/intake.ts'
import { toGrpcDefinition } from '../../services/core/rpc/src/definition.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { waitFor } from '../helpers/wait-for.ts'

const BIG = new Uint8Array(32 * 1024 * 1024)
let answered = 0

const impl: ServiceImpl<typeof SignerService> = {
  async getPublicKey () { return { publicKey: 'ab'.repeat(32), algorithm: 'ed25519' } },
  async getStatus () { return { signedReceipts: 0n } },
  async listSignedJobs () { return { jobIds: [], lastSeq: -1n, more: false } },
  async signReceipt (request) {
    answered++
    const prefix = new TextDecoder().decode(request.receiptJson.subarray(0, 4))
    if (prefix === 'slow') await new Promise((resolve) => setTimeout(resolve, 500))
    const big = prefix.startsWith('big')
    return { receiptJson: big ? BIG : request.receiptJson, signature: 'cd'.repeat(64) }
  }
}

function session (path: string): ClientHttp2Session {
  return http2Connect('http://localhost', { createConnection: () => connect(path), maxSessionMemory: 1024 })
}

function frame (receiptJson: Uint8Array): Buffer {
  const message = toBinary(SignReceiptRequestSchema, create(SignReceiptRequestSchema, { receiptJson }))
  const prefix = Buffer.alloc(5)
  prefix.writeUInt32BE(message.byteLength, 1)
  return Buffer.concat([prefix, message])
}

/** Three multiplexed calls to the server at `path`, `pauseMs` apart, each answered. */
async function callsApart (path: string, pauseMs: number): Promise<void> {
  const mux = createGrpcClient(SignerService, `unix:${path}`, { multiplex: true })
  try {
    for (let i = 0; i < 3; i++) {
      expect((await mux.signReceipt({ receiptJson: new Uint8Array([i]) })).signature).toBe('cd'.repeat(64))
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
  } finally {
    mux.close()
  }
}

describe('GrpcServer with an intake', () => {
  let dir: string
  let path: string
  let server: GrpcServer
  const intake = new Intake({ maxBufferedBytes: 1024 * 1024, graceMs: 300, minBytesPerSecond: 1000, timeoutMs: 30_000 })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-intake-'))
    path = join(dir, 's.sock')
    server = new GrpcServer({ logger: silentLogger() }, { intake, shutdownGraceMs: 200 }).add(SignerService, impl)
    await server.start(`unix:${path}`)
  })

  afterAll(async () => {
    await server.stop()
    intake.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('ends a call that never half-closes with DEADLINE_EXCEEDED and request_timeout', async () => {
    const s = session(path)
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve) => {
        const stream = s.request({ ':method': 'POST', ':path': '/phase.signer.v1.SignerService/SignReceipt', 'content-type': 'application/grpc', te: 'trailers' })
        stream.write(frame(new Uint8Array(100)).subarray(0, 20))
        stream.on('response', (h) => { if (h['grpc-status'] !== undefined) resolve(h) })
        stream.on('trailers', (h) => resolve(h))
        stream.on('error', () => {})
      })
      expect([Number(headers['grpc-status']), headers['phase-error-code']]).toEqual([4, 'request_timeout'])
    } finally {
      s.destroy()
    }
    expect(intake.bufferedBytes).toBe(0)
  })

  it('refuses a message past the budget with RESOURCE_EXHAUSTED overloaded, read by a grpc-js client mid-send', async () => {
    // Its own server whose rate check cannot fire first: on a loaded machine the client's 4 MiB
    // can start arriving more than this describe's 300 ms grace after its headers.
    const patient = new Intake({ maxBufferedBytes: 1024 * 1024, graceMs: 30_000, minBytesPerSecond: 1, timeoutMs: 60_000 })
    const budgetPath = join(dir, 'budget.sock')
    const budgetServer = new GrpcServer({ logger: silentLogger() }, { intake: patient, shutdownGraceMs: 200 }).add(SignerService, impl)
    await budgetServer.start(`unix:${budgetPath}`)
    const budgetClient = createGrpcClient(SignerService, `unix:${budgetPath}`)
    try {
      await expect(budgetClient.signReceipt({ receiptJson: new Uint8Array(4 * 1024 * 1024) })).rejects.toMatchObject({ code: 'overloaded' })
      expect((await budgetClient.signReceipt({ receiptJson: new Uint8Array(10) })).signature).toBe('cd'.repeat(64))
      expect(patient.bufferedBytes).toBe(0)
    } finally {
      budgetClient.close()
      await budgetServer.stop()
      patient.close()
    }
  })

  it('frees the budget once the handler answers when the client never reads the answer', async () => {
    const s = session(path)
    const before = answered
    try {
      const stream = s.request({ ':method': 'POST', ':path': '/phase.signer.v1.SignerService/SignReceipt', 'content-type': 'application/grpc', te: 'trailers' })
      stream.on('error', () => {})
      stream.end(frame(Buffer.concat([Buffer.from('big'), new Uint8Array(200_000)])))
      stream.pause()
      await waitFor(() => answered > before && intake.bufferedBytes === 0, { what: 'the handler to answer and the budget to be free', intervalMs: 20 }).catch(() => {})
      expect(answered).toBe(before + 1)
      expect(intake.bufferedBytes).toBe(0)
    } finally {
      s.destroy()
    }
  })

  it('leaves multiplexed streams open past the deadlines (they carry calls for as long as their channel lives)', async () => {
    // The point of the test: the stream sits idle past the 300 ms grace between calls.
    await callsApart(path, 250)
  })
})

/** One SignReceiptStream message (call id, request) in gRPC framing, declaring `declared` bytes when given. */
function streamFrame (callId: number, receiptJson: Uint8Array, declared?: number): Buffer {
  const message = toBinary(SignReceiptStreamRequestSchema, create(SignReceiptStreamRequestSchema, { callId: BigInt(callId), request: { receiptJson } }))
  const prefix = Buffer.alloc(5)
  prefix.writeUInt32BE(declared ?? message.byteLength, 1)
  return Buffer.concat([prefix, message])
}

/** Opens a SignReceiptStream by hand; resolves with the status headers or trailers when it ends. */
function openStream (s: ClientHttp2Session): { stream: ClientHttp2Stream, ended: Promise<Record<string, unknown>> } {
  const stream = s.request({ ':method': 'POST', ':path': '/phase.signer.v1.SignerService/SignReceiptStream', 'content-type': 'application/grpc', te: 'trailers' })
  stream.on('error', () => {})
  const ended = new Promise<Record<string, unknown>>((resolve) => {
    stream.on('response', (h) => { if (h['grpc-status'] !== undefined) resolve(h) })
    stream.on('trailers', (h) => resolve(h))
  })
  stream.resume()
  return { stream, ended }
}

describe('GrpcServer with an intake and capped client streams', () => {
  const CAP = 64 * 1024
  const MAX_CALLS = 2
  let dir: string
  let path: string
  let server: GrpcServer
  let running = 0
  let handled = 0
  let most = 0
  const WIDE = new Uint8Array(100_000)
  const held: Array<() => void> = []
  const intake = new Intake({ maxBufferedBytes: 1024 * 1024, graceMs: 300, minBytesPerSecond: 1000, timeoutMs: 30_000 })
  const holding: ServiceImpl<typeof SignerService> = {
    ...impl,
    async signReceipt (request) {
      running++
      handled++
      most = Math.max(most, running)
      const prefix = new TextDecoder().decode(request.receiptJson.subarray(0, 4))
      if (prefix === 'hold') await new Promise<void>((resolve) => held.push(resolve))
      running--
      // 'wide': a 100 KB answer, so that a client that reads nothing fills HTTP/2's window.
      return { receiptJson: prefix === 'wide' ? WIDE : request.receiptJson, signature: 'ef'.repeat(64) }
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-stream-intake-'))
    path = join(dir, 's.sock')
    server = new GrpcServer({ logger: silentLogger() }, { intake, shutdownGraceMs: 200, maxStreamMessageBytes: CAP, maxStreamCalls: MAX_CALLS }).add(SignerService, holding)
    await server.start(`unix:${path}`)
  })

  afterAll(async () => {
    for (const release of held.splice(0)) release()
    await server.stop()
    intake.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a message that declares more than the cap from its 5-byte header, before any of it is buffered', async () => {
    const s = session(path)
    try {
      const { stream, ended } = openStream(s)
      // Only the header and a few bytes: the refusal cannot wait for the message.
      stream.write(streamFrame(1, new Uint8Array(CAP + 1)).subarray(0, 64))
      const status = await ended
      expect([Number(status['grpc-status']), status['phase-error-code']]).toEqual([3, 'limit_exceeded'])
      expect(decodeURIComponent(String(status['grpc-message']))).toMatch(`limited to ${CAP} bytes`)
      expect(intake.bufferedBytes).toBe(0)
    } finally {
      s.destroy()
    }
  })

  it('ends a stream whose message stalls half-sent with DEADLINE_EXCEEDED request_timeout, freeing its bytes', async () => {
    const s = session(path)
    try {
      const { stream, ended } = openStream(s)
      stream.write(streamFrame(1, new Uint8Array(10)))
      // 2,000 bytes buy 2 s at the intake's 1,000 bytes/s.
      stream.write(streamFrame(2, new Uint8Array(30_000)).subarray(0, 2_000))
      await waitFor(() => intake.bufferedBytes >= 2_000, { what: 'the half-sent message to be counted', intervalMs: 10 })
      const status = await ended
      expect([Number(status['grpc-status']), status['phase-error-code']]).toEqual([4, 'request_timeout'])
      expect(intake.bufferedBytes).toBe(0)
    } finally {
      s.destroy()
    }
  })

  it(`runs at most ${MAX_CALLS} calls of one stream at once and reads the rest as they end, none lost`, async () => {
    const mux = createGrpcClient(SignerService, `unix:${path}`, { multiplex: true })
    try {
      most = 0
      const calls = Array.from({ length: 6 }, async (_, i) => await mux.signReceipt({ receiptJson: new TextEncoder().encode(`hold ${i}`) }))
      await waitFor(() => held.length === MAX_CALLS, { what: `${MAX_CALLS} calls to be held`, intervalMs: 10 })
      // The stream is not read past the cap: the others wait on the client's side of flow control.
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(held.length).toBe(MAX_CALLS)
      while ((await Promise.race([Promise.all(calls).then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 20))])) === false) {
        for (const release of held.splice(0)) release()
      }
      const answers = await Promise.all(calls)
      expect(answers.map((a) => new TextDecoder().decode(a.receiptJson))).toEqual(Array.from({ length: 6 }, (_, i) => `hold ${i}`))
      expect(most).toBe(MAX_CALLS)
      expect(intake.bufferedBytes).toBe(0)
    } finally {
      mux.close()
    }
  })

  it('stops reading a stream whose client reads no answers: calls it runs stay bounded, not one per message sent', async () => {
    const s = session(path)
    try {
      const stream = s.request({ ':method': 'POST', ':path': '/phase.signer.v1.SignerService/SignReceiptStream', 'content-type': 'application/grpc', te: 'trailers' })
      stream.on('error', () => {})
      stream.pause() // never reads: answers pile up in HTTP/2's window, then in the server's write buffer
      const before = handled
      for (let i = 1; i <= 100; i++) stream.write(streamFrame(i, new TextEncoder().encode('wide')))
      await waitFor(() => handled - before >= 10, { what: 'some calls to run', intervalMs: 10 })
      await new Promise((resolve) => setTimeout(resolve, 500))
      // Without the back-pressure every one of the 100 runs (each ends at once; only 2 at a time).
      expect(handled - before).toBeLessThan(40)
    } finally {
      s.destroy()
    }
  })

  it('sends calls unary to a server without the stream (an older node), after one refusal', async () => {
    // A bare grpc-js server with only the unary method: the stream is UNIMPLEMENTED there.
    const bare = new grpc.Server()
    const def = toGrpcDefinition(SignerService)
    bare.addService({ signReceipt: def.signReceipt! }, {
      signReceipt: (call: grpc.ServerUnaryCall<{ receiptJson: Uint8Array }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, create(SignReceiptResponseSchema, { receiptJson: call.request.receiptJson, signature: '01'.repeat(64) }))
    })
    const barePath = join(dir, 'bare.sock')
    await new Promise<void>((resolve, reject) => bare.bindAsync(`unix:${barePath}`, grpc.ServerCredentials.createInsecure(), (err) => err != null ? reject(err) : resolve()))
    const mux = createGrpcClient(SignerService, `unix:${barePath}`, { multiplex: true })
    try {
      for (let i = 0; i < 3; i++) expect((await mux.signReceipt({ receiptJson: new Uint8Array([i]) })).signature).toBe('01'.repeat(64))
    } finally {
      mux.close()
      await new Promise<void>((resolve) => bare.tryShutdown(() => resolve()))
    }
  })
})

describe('multiplexed streams that go idle', () => {
  const IDLE_MS = 300
  let dir: string
  let path: string
  let server: GrpcServer

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-stream-idle-'))
    path = join(dir, 's.sock')
    server = new GrpcServer({ logger: silentLogger() }, { shutdownGraceMs: 200, streamIdleMs: IDLE_MS }).add(SignerService, impl)
    await server.start(`unix:${path}`)
  })

  afterAll(async () => {
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it(`are ended by the server with OK after ${IDLE_MS} ms without a call in flight (an open stream would keep its connection from idling out)`, async () => {
    const s = session(path)
    try {
      const { stream, ended } = openStream(s)
      const answered = new Promise<void>((resolve) => stream.once('data', () => resolve()))
      stream.write(streamFrame(1, new Uint8Array(5)))
      await answered
      const t = performance.now()
      const status = await ended
      expect(Number(status['grpc-status'])).toBe(0)
      expect(performance.now() - t).toBeGreaterThanOrEqual(IDLE_MS - 50)
    } finally {
      s.destroy()
    }
  })

  it('stay open while a call outlasts the idle time, and are ended as idle once it ended', async () => {
    const s = session(path)
    try {
      const { stream, ended } = openStream(s)
      let closedAt = 0
      void ended.then(() => { closedAt = performance.now() })
      const answered = new Promise<void>((resolve) => stream.once('data', () => resolve()))
      stream.write(streamFrame(1, new TextEncoder().encode('slow'))) // 500 ms, past the 300 ms idle time
      await answered
      const t = performance.now()
      expect(closedAt).toBe(0)
      const status = await ended
      expect(Number(status['grpc-status'])).toBe(0)
      expect(closedAt - t).toBeGreaterThanOrEqual(IDLE_MS - 50)
    } finally {
      s.destroy()
    }
  })

  it('are ended as idle all the same when they send only cancels and no call (a message is not a call)', async () => {
    const s = session(path)
    try {
      const { stream, ended } = openStream(s)
      const cancel = toBinary(SignReceiptStreamRequestSchema, create(SignReceiptStreamRequestSchema, { callId: 9n, cancel: true }))
      const prefix = Buffer.alloc(5)
      prefix.writeUInt32BE(cancel.byteLength, 1)
      const every = setInterval(() => { if (stream.writable) stream.write(Buffer.concat([prefix, cancel])) }, IDLE_MS / 6)
      try {
        const status = await ended
        expect(Number(status['grpc-status'])).toBe(0)
      } finally {
        clearInterval(every)
      }
    } finally {
      s.destroy()
    }
  })

  it('leave a multiplexing client working: its next calls go on a new stream', async () => {
    await callsApart(path, IDLE_MS * 2)
  })
})

describe('a multiplexing client whose stream the server ends cleanly with calls unanswered', () => {
  /** A bare grpc-js server whose first `unread` streams end (status OK) at their first message, unread. */
  async function endingServer (file: string, unread: number): Promise<{ server: grpc.Server, streams: () => number }> {
    const server = new grpc.Server()
    const def = toGrpcDefinition(SignerService)
    let streams = 0
    server.addService({ signReceiptStream: def.signReceiptStream! }, {
      signReceiptStream: (call: grpc.ServerDuplexStream<{ callId: bigint, request?: { receiptJson: Uint8Array } }, unknown>) => {
        const n = ++streams
        call.on('data', (msg) => {
          if (n <= unread) { call.end(); return }
          call.write(create(SignReceiptStreamResponseSchema, { callId: msg.callId, result: { case: 'response', value: { receiptJson: msg.request!.receiptJson, signature: '02'.repeat(64) } } }))
        })
        call.on('end', () => call.end())
      }
    })
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${file}`, grpc.ServerCredentials.createInsecure(), (err) => err != null ? reject(err) : resolve()))
    return { server, streams: () => streams }
  }

  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-grpc-stream-resend-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('sends them again on a new stream (the server read none of them)', async () => {
    const { server, streams } = await endingServer(join(dir, 'once.sock'), 1)
    const mux = createGrpcClient(SignerService, `unix:${join(dir, 'once.sock')}`, { multiplex: true })
    try {
      expect((await mux.signReceipt({ receiptJson: new Uint8Array([7]) })).receiptJson).toEqual(new Uint8Array([7]))
      expect(streams()).toBe(2)
    } finally {
      mux.close()
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
    }
  })

  it('sends each only once: a second clean end unanswered fails the call unavailable', async () => {
    const { server, streams } = await endingServer(join(dir, 'always.sock'), Infinity)
    const mux = createGrpcClient(SignerService, `unix:${join(dir, 'always.sock')}`, { multiplex: true })
    try {
      await expect(mux.signReceipt({ receiptJson: new Uint8Array([7]) })).rejects.toMatchObject({ code: 'unavailable' })
      expect(streams()).toBe(2)
    } finally {
      mux.close()
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
    }
  })
})
