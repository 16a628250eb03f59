/**
 * GrpcServer with an Intake, on a real unix socket: a call that never finishes sending ends with
 * DEADLINE_EXCEEDED request_timeout, a message past the budget with RESOURCE_EXHAUSTED overloaded
 * (and a grpc-js client reads that status although it was still sending), a client that never
 * reads its answer does not keep the budget, and multiplexed streams are left alone.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create, toBinary } from '@bufbuild/protobuf'
import { SignerService, SignReceiptRequestSchema } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { GrpcServer, createGrpcClient, type ServiceImpl, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { Intake } from '../../services/core/rpc/src/intake.ts'
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
    const big = new TextDecoder().decode(request.receiptJson.subarray(0, 3)) === 'big'
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

describe('GrpcServer with an intake', () => {
  let dir: string
  let path: string
  let server: GrpcServer
  let client: GrpcClient<typeof SignerService>
  const intake = new Intake({ maxBufferedBytes: 1024 * 1024, graceMs: 300, minBytesPerSecond: 1000, timeoutMs: 30_000 })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-intake-'))
    path = join(dir, 's.sock')
    server = new GrpcServer({ logger: silentLogger() }, { intake, shutdownGraceMs: 200 }).add(SignerService, impl)
    await server.start(`unix:${path}`)
    client = createGrpcClient(SignerService, `unix:${path}`)
  })

  afterAll(async () => {
    client.close()
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
    await expect(client.signReceipt({ receiptJson: new Uint8Array(4 * 1024 * 1024) })).rejects.toMatchObject({ code: 'overloaded' })
    expect((await client.signReceipt({ receiptJson: new Uint8Array(10) })).signature).toBe('cd'.repeat(64))
    expect(intake.bufferedBytes).toBe(0)
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
    const mux = createGrpcClient(SignerService, `unix:${path}`, { multiplex: true })
    try {
      for (let i = 0; i < 3; i++) {
        expect((await mux.signReceipt({ receiptJson: new Uint8Array(5) })).signature).toBe('cd'.repeat(64))
        // The point of the test: the stream sits idle past the 300 ms grace between calls.
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    } finally {
      mux.close()
    }
  })
})
