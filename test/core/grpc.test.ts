/**
 * The grpc-js adapter on a real unix socket: typed calls, the error table on the wire,
 * grpc.health.v1, server reflection, deadlines, stale socket files, and an idempotent stop.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { service as healthService } from 'grpc-health-check'
import { SignerService } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { GrpcServer, createGrpcClient, type ServiceImpl, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { InvalidReceiptError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger, type Logger } from '../../services/core/process/src/logger.ts'
import { captureLog } from '../helpers/log-capture.ts'
import { waitFor } from '../helpers/wait-for.ts'

const impl: ServiceImpl<typeof SignerService> = {
  async getPublicKey () { return { publicKey: 'ab'.repeat(32), algorithm: 'ed25519' } },
  async getStatus () { return { signedReceipts: 0n } },
  async listSignedJobs () { return { jobIds: [], lastSeq: -1n, more: false } },
  async signReceipt (request, ctx) {
    const text = new TextDecoder().decode(request.receiptJson)
    if (text === 'bad') throw new InvalidReceiptError('not a receipt')
    if (text === 'boom') throw new Error('secret internal detail')
    if (text === 'slow') {
      slowCalls++
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
      throw new Error('aborted')
    }
    return { receiptJson: request.receiptJson, signature: 'cd'.repeat(64) }
  }
}

/** Calls that reached the slow handler (a test cancels only once its call is there). */
let slowCalls = 0

describe('grpc adapter', () => {
  let dir: string
  let server: GrpcServer
  let address: string
  let client: GrpcClient<typeof SignerService>

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-'))
    // A stale socket file from a killed server must not stop the start.
    await writeFile(join(dir, 's.sock'), '')
    server = new GrpcServer({ logger: silentLogger() }, { reflection: true, shutdownGraceMs: 200 }).add(SignerService, impl)
    address = await server.start(`unix:${join(dir, 's.sock')}`)
    client = createGrpcClient(SignerService, address)
  })

  afterAll(async () => {
    client.close()
    await server.stop()
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves typed unary calls', async () => {
    const res = await client.signReceipt({ receiptJson: new TextEncoder().encode('{}') })
    expect(res.signature).toBe('cd'.repeat(64))
    expect((await client.getPublicKey({})).algorithm).toBe('ed25519')
  })

  it('maps a PhaseError to its status and code', async () => {
    await expect(client.signReceipt({ receiptJson: new TextEncoder().encode('bad') })).rejects.toMatchObject({ code: 'invalid_receipt', message: 'not a receipt' })
  })

  it('hides the text of unexpected errors behind INTERNAL', async () => {
    const err = await client.signReceipt({ receiptJson: new TextEncoder().encode('boom') }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'internal', message: 'internal error' })
  })

  it('turns a passed deadline into deadline_exceeded and aborts the handler', async () => {
    await expect(client.signReceipt({ receiptJson: new TextEncoder().encode('slow') }, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'deadline_exceeded' })
  })

  it('cancels a call when its signal aborts', async () => {
    const controller = new AbortController()
    const call = client.signReceipt({ receiptJson: new TextEncoder().encode('slow') }, { signal: controller.signal })
    controller.abort()
    await expect(call).rejects.toMatchObject({ code: 'cancelled' })
  })

  it('answers grpc.health.v1 Check with SERVING', async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health')
    const health = new Health(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { check: Function }
    const status = await new Promise<{ status: string }>((resolve, reject) => {
      health.check({ service: 'phase.signer.v1.SignerService' }, (err: Error | null, res: { status: string }) => err != null ? reject(err) : resolve(res))
    })
    health.close()
    expect(status.status).toBe('SERVING')
  })

  it('answers grpc.health.v1 Check of an unknown service with NOT_FOUND, List with every service, Watch with the status', async () => {
    // The client is grpc-health-check's (protobufjs, from health.proto): the wire format the server must speak.
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health')
    const health = new Health(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { check: Function, list: Function, watch: Function }
    try {
      const err = await new Promise<grpc.ServiceError>((resolve) => { health.check({ service: 'no.such.Service' }, (e: grpc.ServiceError) => resolve(e)) })
      expect(err.code).toBe(grpc.status.NOT_FOUND)
      const list = await new Promise<{ statuses: Record<string, { status: string }> }>((resolve, reject) => {
        health.list({}, (e: Error | null, res: { statuses: Record<string, { status: string }> }) => e != null ? reject(e) : resolve(res))
      })
      expect(list.statuses).toEqual({ '': { status: 'SERVING' }, 'phase.signer.v1.SignerService': { status: 'SERVING' } })
      for (const [service, expected] of [['phase.signer.v1.SignerService', 'SERVING'], ['no.such.Service', 'SERVICE_UNKNOWN']]) {
        const call = health.watch({ service }) as grpc.ClientReadableStream<{ status: string }>
        const first = await new Promise<{ status: string }>((resolve, reject) => { call.once('data', resolve); call.once('error', reject) })
        call.cancel()
        call.on('error', () => {})
        expect(first.status).toBe(expected)
      }
    } finally {
      health.close()
    }
  })

  it('lists the service through server reflection', async () => {
    const protoPath = join(new URL('../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url).pathname)
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: true })) as any
    const reflection = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure())
    const names = await new Promise<string[]>((resolve, reject) => {
      const call = reflection.ServerReflectionInfo()
      call.on('data', (res: any) => { resolve(res.list_services_response.service.map((s: { name: string }) => s.name)); call.end() })
      call.on('error', reject)
      call.write({ list_services: '' })
    })
    reflection.close()
    expect(names).toContain('phase.signer.v1.SignerService')
  })

  it('refuses to start on a socket another server is serving', async () => {
    const other = new GrpcServer({ logger: silentLogger() }).add(SignerService, impl)
    await expect(other.start(address)).rejects.toMatchObject({ code: 'EADDRINUSE' })
    await other.stop()
  })
})

/** A raw call with identity (de)serializers: what a client with broken protobuf sends. */
async function rawUnary (address: string, path: string, bytes: Buffer): Promise<grpc.ServiceError | null> {
  const raw = new grpc.Client(address, grpc.credentials.createInsecure())
  try {
    return await new Promise((resolve) => {
      raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e) => resolve(e))
    })
  } finally {
    raw.close()
  }
}

describe('grpc adapter with bad input', () => {
  let dir: string
  let server: GrpcServer
  let address: string
  const lines: Array<Record<string, unknown>> = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-bad-'))
    server = new GrpcServer({ logger: captureLog('debug', lines).logger as unknown as Logger }, { shutdownGraceMs: 200 }).add(SignerService, impl)
    address = await server.start(`unix:${join(dir, 's.sock')}`)
  })

  afterAll(async () => {
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  })

  // Field 1 announcing more bytes than follow; a field with wire type 7 (no such type).
  const UNDECODABLE = [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41]), Buffer.from([0x0f, 0x01])]

  it('refuses a request whose protobuf does not decode with INVALID_ARGUMENT invalid_argument, on every method', async () => {
    for (const path of ['/phase.signer.v1.SignerService/SignReceipt', '/phase.signer.v1.SignerService/GetPublicKey']) {
      for (const bytes of UNDECODABLE) {
        const err = await rawUnary(address, path, bytes)
        expect({ path, code: err?.code, sent: err?.metadata.get('phase-error-code')[0] }).toEqual({ path, code: grpc.status.INVALID_ARGUMENT, sent: 'invalid_argument' })
      }
    }
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([])
  })

  it('refuses an undecodable grpc.health.v1 Check with INVALID_ARGUMENT, not INTERNAL', async () => {
    // Wire type 7 (protobufjs, health's decoder, takes an overstated length as a short field).
    const err = await rawUnary(address, '/grpc.health.v1.Health/Check', Buffer.from([0x07]))
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT)
  })

  it('ends a multiplexed stream that sends an undecodable message with INVALID_ARGUMENT invalid_argument', async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure())
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = raw.makeBidiStreamRequest('/phase.signer.v1.SignerService/SignReceiptStream', (b: Buffer) => b, (b: Buffer) => b)
      call.on('data', () => {})
      call.on('error', resolve)
      call.write(UNDECODABLE[0]!)
    })
    raw.close()
    expect({ code: err.code, sent: err.metadata.get('phase-error-code')[0] }).toEqual({ code: grpc.status.INVALID_ARGUMENT, sent: 'invalid_argument' })
  })

  it('logs a call the client cancels at debug, not as an unexpected error', async () => {
    const client = createGrpcClient(SignerService, address)
    const controller = new AbortController()
    const before = slowCalls
    const call = client.signReceipt({ receiptJson: new TextEncoder().encode('slow') }, { signal: controller.signal })
    void call.catch(() => {}) // awaited below
    await waitFor(() => slowCalls > before, { what: 'the call to reach the handler', intervalMs: 5 })
    controller.abort()
    await expect(call).rejects.toMatchObject({ code: 'cancelled' })
    await waitFor(() => lines.some((l) => l.msg === 'call cancelled'), { what: 'the server to log the cancelled call', intervalMs: 20 }).catch(() => {})
    client.close()
    expect(lines.filter((l) => l.msg === 'call cancelled').map((l) => l.level)).toEqual([20])
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([])
  })
})
