/**
 * JobRunner against small fakes of its narrow components (executors, module store, signer): the
 * one path from a request to a signature. What the client is told when the signer is down or
 * the node is full, that nothing unsigned comes back, that a job id is spent only once a receipt
 * exists, and that the caller's cancellation reaches the executor and the signer.
 */
import { describe, it, expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { create } from '@bufbuild/protobuf'
import { ExecuteResponseSchema, type ExecuteResponse } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { CancelledError, ERROR_TABLE, GrpcStatus, UnavailableError } from '../../services/core/protocol/src/errors.ts'
import type { UnsignedReceipt } from '../../services/core/protocol/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { JobRunner, type JobRunnerComponents, type JobRunnerInit } from '../../services/discovery/src/jobs.ts'

const LIMITS = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 16, maxTimeoutMs: 10_000, defaultTimeoutMs: 1000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 16, maxStdinBytes: 1 << 16, maxArgsBytes: 1 << 16 }
const PEER = '12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba'
const KEY = 'ab'.repeat(32)
const MODULE = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])
const enc = new TextEncoder()

type Execute = JobRunnerComponents['executors']['execute']
type Sign = JobRunnerComponents['signer']['sign']
type CallOptions = Parameters<Execute>[2]

const okResponse = (): ExecuteResponse => create(ExecuteResponseSchema, {
  status: 'ok', exitCode: 0n, stdout: enc.encode('hello'), wallTimeUs: 100n, startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:00.001Z', runtimeName: 'fake', runtimeVersion: '1'
})

/** The fakes, with what each was asked. */
interface Fakes {
  executions: Array<{ jobId: string, options: CallOptions }>
  signed: Array<{ receipt: UnsignedReceipt, signal: AbortSignal | undefined }>
  execute: Execute
  sign: Sign
  publicKey: JobRunnerComponents['signer']['publicKey']
}

function runner (init: Partial<JobRunnerInit> = {}): { jobs: JobRunner, fakes: Fakes } {
  const fakes: Fakes = {
    executions: [],
    signed: [],
    execute: async () => ({ response: okResponse(), executor: 0 }),
    sign: async (receipt) => ({ receiptJson: enc.encode(JSON.stringify({ ...receipt, signature: 'cd'.repeat(64) })) }),
    publicKey: async () => KEY
  }
  const modules = new Map<string, Uint8Array>()
  const jobs = new JobRunner({
    executors: {
      execute: async (request, loadModule, options) => { fakes.executions.push({ jobId: request.jobId, options }); return await fakes.execute(request, loadModule, options) }
    },
    modules: {
      has: (hash) => modules.has(hash),
      get: async (hash) => modules.get(hash),
      put: async (hash, bytes) => { modules.set(hash, bytes) }
    },
    signer: {
      publicKey: async (options) => await fakes.publicKey(options),
      sign: async (receipt, options) => { fakes.signed.push({ receipt, signal: options?.signal }); return await fakes.sign(receipt, options) }
    },
    logger: silentLogger()
  }, { limits: LIMITS, peerId: PEER, maxInFlight: 4, ...init })
  return { jobs, fakes }
}

const manifest = (extra: Record<string, unknown> = {}): Uint8Array => enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(MODULE), nonce: randomBytes(16).toString('hex'), ...extra }))
const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'resolved', (err: { code?: string }) => err.code ?? 'untyped')
/** Lets the calls already made reach the fakes (microtasks and one turn of the loop; no timer). */
const settle = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

/** An executor call the test ends by hand. */
function held (): { execute: Execute, finish: () => void } {
  const d = Promise.withResolvers<void>()
  return { execute: async () => { await d.promise; return { response: okResponse(), executor: 0 } }, finish: () => d.resolve() }
}

describe('JobRunner', () => {
  it('returns the executor\'s output with the receipt exactly as the signer signed it when all goes well', async () => {
    const { jobs, fakes } = runner()
    const result = await jobs.run({ manifest: manifest(), module: MODULE })
    expect(new TextDecoder().decode(result.stdout)).toBe('hello')
    expect(fakes.signed).toHaveLength(1)
    const receipt = fakes.signed[0]!.receipt
    expect(receipt).toMatchObject({ job_id: result.jobId, stdout_hash: contentHash(enc.encode('hello')), node: { peer_id: PEER, public_key: KEY }, status: 'ok' })
    expect(JSON.parse(new TextDecoder().decode(result.receiptJson))).toMatchObject({ job_id: result.jobId, signature: 'cd'.repeat(64) })
  })

  it('answers unavailable (UNAVAILABLE) and returns no result when the signer is down, and the job may be sent again', async () => {
    const { jobs, fakes } = runner()
    fakes.sign = async () => { throw new UnavailableError('signer is unavailable; no receipt can be signed') }
    const m = manifest()
    expect(await codeOf(jobs.run({ manifest: m, module: MODULE }))).toBe('unavailable')
    expect(ERROR_TABLE.unavailable.grpc).toBe(GrpcStatus.UNAVAILABLE)
    expect(jobs.running).toBe(0)
    // No receipt exists for that job id: once the signer is back, the same manifest runs.
    fakes.sign = async (receipt) => ({ receiptJson: enc.encode(JSON.stringify(receipt)) })
    const again = await jobs.run({ manifest: m })
    expect(again.jobId).toBe(fakes.signed[0]!.receipt.job_id)
    expect(fakes.signed).toHaveLength(2)
  })

  it('answers unavailable before signing when the signer cannot give its public key', async () => {
    const { jobs, fakes } = runner()
    fakes.publicKey = async () => { throw new UnavailableError('signer is unavailable; no receipt can be signed') }
    expect(await codeOf(jobs.run({ manifest: manifest(), module: MODULE }))).toBe('unavailable')
    expect(fakes.signed).toHaveLength(0)
  })

  it('answers queue_full (RESOURCE_EXHAUSTED) without running the job when maxInFlight jobs run', async () => {
    const { jobs, fakes } = runner({ maxInFlight: 1 })
    const first = held()
    fakes.execute = first.execute
    const running = jobs.run({ manifest: manifest(), module: MODULE })
    await settle()
    expect(jobs.running).toBe(1)
    expect(await codeOf(jobs.run({ manifest: manifest(), module: MODULE }))).toBe('queue_full')
    expect(ERROR_TABLE.queue_full.grpc).toBe(GrpcStatus.RESOURCE_EXHAUSTED)
    expect(fakes.executions).toHaveLength(1)
    first.finish()
    await running
    // The slot is free again.
    fakes.execute = async () => ({ response: okResponse(), executor: 0 })
    expect((await jobs.run({ manifest: manifest() })).status).toBe('ok')
  })

  it('keeps remote jobs to their share while a local job still gets through', async () => {
    const { jobs, fakes } = runner({ maxInFlight: 4, remote: { maxTimeoutMs: 1000, maxMemoryMb: 16, maxJobs: 1 } })
    const first = held()
    fakes.execute = first.execute
    const remote = jobs.run({ manifest: manifest(), module: MODULE }, { origin: 'remote' })
    await settle()
    expect(await codeOf(jobs.run({ manifest: manifest() }, { origin: 'remote' }))).toBe('queue_full')
    const local = jobs.run({ manifest: manifest() })
    await settle()
    expect(fakes.executions).toHaveLength(2)
    first.finish()
    await Promise.all([remote, local])
  })

  it('passes the caller\'s signal on to the executor and the signer, and gives the executor the job\'s deadline plus slack', async () => {
    const { jobs, fakes } = runner()
    const controller = new AbortController()
    await jobs.run({ manifest: manifest({ limits: { timeout_ms: 700 } }), module: MODULE }, { signal: controller.signal })
    expect(fakes.executions[0]!.options.signal).toBe(controller.signal)
    expect(fakes.executions[0]!.options.timeoutMs).toBe(700 + 5000)
    expect(fakes.signed[0]!.signal).toBe(controller.signal)
  })

  it('answers cancelled and signs nothing when the caller cancels while the job runs', async () => {
    const { jobs, fakes } = runner()
    fakes.execute = async (_request, _load, options) => await new Promise((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => reject(new CancelledError()), { once: true })
    })
    const controller = new AbortController()
    const running = jobs.run({ manifest: manifest(), module: MODULE }, { signal: controller.signal })
    await settle()
    controller.abort()
    expect(await codeOf(running)).toBe('cancelled')
    expect(fakes.signed).toHaveLength(0)
    expect(jobs.running).toBe(0)
  })

  it('refuses a job id that is running or was signed, with replayed_job', async () => {
    const { jobs, fakes } = runner()
    const first = held()
    fakes.execute = first.execute
    const m = manifest()
    const running = jobs.run({ manifest: m, module: MODULE })
    await settle()
    expect(await codeOf(jobs.run({ manifest: m }))).toBe('replayed_job')
    first.finish()
    await running
    expect(await codeOf(jobs.run({ manifest: m }))).toBe('replayed_job')
    expect(fakes.executions).toHaveLength(1)
  })

  it('refuses a module it does not hold, bytes that do not match the hash, or limits above the caps, before running anything', async () => {
    const { jobs, fakes } = runner()
    expect(await codeOf(jobs.run({ manifest: manifest() }))).toBe('module_not_cached')
    expect(await codeOf(jobs.run({ manifest: manifest(), module: Uint8Array.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]) }))).toBe('hash_mismatch')
    expect(await codeOf(jobs.run({ manifest: manifest({ limits: { memory_mb: LIMITS.maxMemoryMb + 1 } }), module: MODULE }))).toBe('limit_exceeded')
    expect(fakes.executions).toHaveLength(0)
  })

  it('checks bytes sent for a module it already holds: other bytes under a cached hash are hash_mismatch, not run', async () => {
    const { jobs, fakes } = runner()
    await jobs.run({ manifest: manifest(), module: MODULE })
    expect(fakes.executions).toHaveLength(1)
    expect(await codeOf(jobs.run({ manifest: manifest(), module: Uint8Array.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]) }))).toBe('hash_mismatch')
    // The same bytes again run (by hash), and no bytes at all too.
    await jobs.run({ manifest: manifest(), module: MODULE })
    await jobs.run({ manifest: manifest() })
    expect(fakes.executions).toHaveLength(3)
  })
})
