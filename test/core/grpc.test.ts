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
import { SignerService } from '../../services/core/src/gen/phase/signer/v1/signer_pb.js'
import { GrpcServer, createGrpcClient, type ServiceImpl, type GrpcClient } from '../../services/core/src/grpc/index.ts'
import { InvalidReceiptError } from '../../services/core/src/errors.ts'
import { silentLogger } from '../../services/core/src/logger.ts'

const impl: ServiceImpl<typeof SignerService> = {
  async getPublicKey () { return { publicKey: 'ab'.repeat(32), algorithm: 'ed25519' } },
  async getStatus () { return { signedReceipts: 0n } },
  async listSignedJobs () { return { jobIds: [], lastSeq: -1n, more: false } },
  async signReceipt (request, ctx) {
    const text = new TextDecoder().decode(request.receiptJson)
    if (text === 'bad') throw new InvalidReceiptError('not a receipt')
    if (text === 'boom') throw new Error('secret internal detail')
    if (text === 'slow') {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
      throw new Error('aborted')
    }
    return { receiptJson: request.receiptJson, signature: 'cd'.repeat(64) }
  }
}

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
