/**
 * The Phase error code crosses gRPC in the `phase-error-code` trailer, both ways: a real grpc-js
 * server and client on a unix socket, one round trip per error class (unary and multiplexed),
 * grpc-js's own refusals tagged by the server, and the status mapping only for a server that
 * sends no code (one that is not a Phase node).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { SignerService } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { GrpcServer, createGrpcClient, type ServiceImpl, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import * as errors from '../../services/core/protocol/src/errors.ts'
import { ERROR_TABLE, PhaseError, VerificationError, fromGrpcError, type ErrorCode } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

/** Every exported PhaseError class, and the base for `internal` (the one code without a class). */
type ErrorClass = new (...args: any[]) => PhaseError
const CLASSES = (Object.entries(errors) as Array<[string, unknown]>)
  .filter((e): e is [string, ErrorClass] => typeof e[1] === 'function' && e[1].prototype instanceof PhaseError)
const make = (Class: ErrorClass, message: string): PhaseError =>
  Class === VerificationError ? new VerificationError('signature', message) : new Class(message)
const SAMPLES: Array<{ name: string, code: ErrorCode, make: (message: string) => PhaseError }> = [
  ...CLASSES.map(([name, Class]) => ({ name, code: make(Class, '').code, make: (m: string) => make(Class, m) })),
  { name: 'PhaseError', code: 'internal', make: (m: string) => new PhaseError('internal', m) }
]

const impl: ServiceImpl<typeof SignerService> = {
  async getPublicKey () { return { publicKey: 'ab'.repeat(32), algorithm: 'ed25519' } },
  async getStatus () { return { signedReceipts: 0n } },
  async listSignedJobs () { return { jobIds: [], lastSeq: -1n, more: false } },
  async signReceipt (request) {
    const name = new TextDecoder().decode(request.receiptJson)
    // A message that is not well-formed text (a peer's refusal can carry a lone surrogate).
    if (name === 'ill-formed') throw new errors.UnavailableError('peer refused: \ud800 and \udfff')
    throw SAMPLES.find((s) => s.name === name)!.make(`thrown as ${name}`)
  }
}

describe('error codes over gRPC', () => {
  let dir: string
  let server: GrpcServer
  let address: string
  let unary: GrpcClient<typeof SignerService>
  let mux: GrpcClient<typeof SignerService>

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-codes-'))
    server = new GrpcServer({ logger: silentLogger() }, { shutdownGraceMs: 200, maxMessageBytes: 64 * 1024 }).add(SignerService, impl)
    address = await server.start(`unix:${join(dir, 's.sock')}`)
    unary = createGrpcClient(SignerService, address)
    mux = createGrpcClient(SignerService, address, { multiplex: true })
  })

  afterAll(async () => {
    unary.close()
    mux.close()
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers an error whose message is not well-formed text, and goes on serving', async () => {
    // grpc-js's encodeURI of such a status message threw: the call went unanswered and the
    // handler's promise rejected with nothing to catch it (the process ended).
    for (const client of [unary, mux]) {
      const err = await client.signReceipt({ receiptJson: new TextEncoder().encode('ill-formed') }, { timeoutMs: 5000 }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'unavailable', message: 'peer refused: \ufffd and \ufffd' })
    }
    expect(await unary.getPublicKey({})).toMatchObject({ algorithm: 'ed25519' })
  })

  it('has a class for every code of the table', () => {
    expect(new Set(SAMPLES.map((s) => s.code))).toEqual(new Set(Object.keys(ERROR_TABLE)))
  })

  it.each(SAMPLES.map((s) => [s.name, s.code] as const))('rebuilds %s (%s) with its own code and class on a unary call', async (name, code) => {
    const err = await unary.signReceipt({ receiptJson: new TextEncoder().encode(name) }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code, name, message: `thrown as ${name}` })
  })

  it.each(SAMPLES.map((s) => [s.name, s.code] as const))('rebuilds %s (%s) with its own code and class on a multiplexed call', async (name, code) => {
    const err = await mux.signReceipt({ receiptJson: new TextEncoder().encode(name) }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code, name, message: `thrown as ${name}` })
  })

  it('tags a request grpc-js refuses itself (over the message cap) with module_too_large', async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure())
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      raw.makeUnaryRequest('/phase.signer.v1.SignerService/SignReceipt', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(128 * 1024),
        new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (e) => resolve(e))
    })
    raw.close()
    expect({ status: err?.code, sent: err?.metadata.get('phase-error-code') }).toEqual({ status: grpc.status.RESOURCE_EXHAUSTED, sent: ['module_too_large'] })
  })

  it('tags an error a service sends untagged (health NOT_FOUND) with not_found', async () => {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure())
    // grpc.health.v1.HealthCheckRequest { service: 'no.such' }
    const request = Buffer.from([0x0a, 7, ...Buffer.from('no.such')])
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      raw.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, request,
        new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (e) => resolve(e))
    })
    raw.close()
    expect({ status: err?.code, sent: err?.metadata.get('phase-error-code') }).toEqual({ status: grpc.status.NOT_FOUND, sent: ['not_found'] })
  })
})

describe('error codes from a server that is not a Phase node', () => {
  let dir: string
  let server: grpc.Server
  let client: GrpcClient<typeof SignerService>

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-grpc-foreign-'))
    server = new grpc.Server()
    // A plain grpc-js service: statuses with no phase-error-code.
    server.addService({
      SignReceipt: { path: '/phase.signer.v1.SignerService/SignReceipt', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b }
    }, {
      SignReceipt: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const status = Number(call.metadata.get('want-status')[0])
        callback({ code: status, details: 'foreign refusal' })
      }
    })
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${join(dir, 'f.sock')}`, grpc.ServerCredentials.createInsecure(), (e) => e != null ? reject(e) : resolve()))
    client = createGrpcClient(SignerService, `unix:${join(dir, 'f.sock')}`)
  })

  afterAll(async () => {
    client.close()
    server.forceShutdown()
    await rm(dir, { recursive: true, force: true })
  })

  it.each([
    [grpc.status.INVALID_ARGUMENT, 'invalid_argument', 'InvalidArgumentError'],
    [grpc.status.NOT_FOUND, 'not_found', 'NotFoundError'],
    [grpc.status.UNAVAILABLE, 'unavailable', 'UnavailableError'],
    [grpc.status.UNIMPLEMENTED, 'internal', 'PhaseError']
  ])('maps status %i with no phase-error-code to %s', async (status, code, name) => {
    const err = await client.signReceipt({ receiptJson: new Uint8Array() }, { metadata: { 'want-status': String(status) } }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code, name, message: 'foreign refusal' })
  })

  it('takes the code from phase-error-code over the status, and ignores a code that is no Phase code', () => {
    const md = (code: string): grpc.Metadata => { const m = new grpc.Metadata(); m.set('phase-error-code', code); return m }
    expect(fromGrpcError({ code: grpc.status.INVALID_ARGUMENT, details: 'x', metadata: md('hash_mismatch') })).toMatchObject({ code: 'hash_mismatch', name: 'HashMismatchError' })
    expect(fromGrpcError({ code: grpc.status.INVALID_ARGUMENT, details: 'x', metadata: md('constructor') })).toMatchObject({ code: 'invalid_argument' })
    expect(fromGrpcError({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'Received message larger than max (5 vs. 4)' })).toMatchObject({ code: 'module_too_large' })
  })
})
