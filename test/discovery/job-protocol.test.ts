/**
 * The job protocols against fakes of their narrow interfaces: an in-memory stream pair
 * (@libp2p/utils streamPair, libp2p's own Stream implementation without a connection) between
 * the real server handler and the real client functions, a JobRunner fake that signs honest or
 * lying receipts with a real key, and the real peer limiter and inbound budget.
 */
import { describe, it, expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { streamPair } from '@libp2p/utils'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { jobIdOf, inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { jobStreamHandler, offerJob, type JobServerComponents } from '../../services/discovery/src/p2p/job-protocol.ts'
import { jobChannel, runJob2 } from '../../services/discovery/src/p2p/job-protocol-2.ts'
import { checkResult } from '../../services/discovery/src/p2p/remote-jobs.ts'
import { PeerLimiter } from '../../services/discovery/src/p2p/peer-limits.ts'
import { InboundBudget } from '../../services/discovery/src/p2p/inbound-budget.ts'
import type { JobRequest, JobResult } from '../../services/discovery/src/jobs.ts'

const MiB = 1024 * 1024
const PEER = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
const MODULE = randomBytes(256)
const signer = createReceiptSigner(randomBytes(32))
const enc = new TextEncoder()

const manifest = (extra: Partial<Manifest> = {}): Manifest => ({ version: 1, module_hash: contentHash(MODULE), nonce: randomBytes(16).toString('hex'), args: ['x'], ...extra }) as Manifest

/** A runner that "runs" a job by echoing its args, with a receipt signed by a real key; `lie` changes what it sends after signing. */
function runner (options: { lie?: (r: JobResult) => JobResult } = {}): JobServerComponents['jobs'] & { requests: JobRequest[] } {
  const requests: JobRequest[] = []
  return {
    running: 0,
    requests,
    async run (request) {
      requests.push(request)
      const job = request.manifest as Manifest
      const out = enc.encode((job.args ?? []).join(' '))
      const empty = new Uint8Array()
      const { canonical } = signer.sign({
        version: 1, job_id: jobIdOf(job, contentHash), nonce: job.nonce, module_hash: job.module_hash, inputs_hash: inputsHashOf(job, contentHash),
        stdout_hash: contentHash(out), stdout_bytes: out.length, stderr_hash: contentHash(empty), stderr_bytes: 0,
        status: 'ok', exit_code: 0, limits: { memory_bytes: MiB, timeout_ms: 1000, output_bytes: MiB }, wall_time_us: 1, cpu_time_us: 1,
        started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:00.000Z',
        node: { peer_id: PEER, public_key: signer.publicKey }, runtime: { name: 'v8-wasm', version: 'test' }
      })
      const r: JobResult = { jobId: jobIdOf(job, contentHash), manifest: job, manifestJson: empty, status: 'ok', exitCode: 0, stdout: out, stderr: empty, receiptJson: canonical, executor: 0 }
      return options.lie?.(r) ?? r
    }
  }
}

/** The real server on one end of an in-memory stream pair; the client end is returned. */
async function serve (jobs: JobServerComponents['jobs'], init: { has?: (hash: string) => boolean, maxInFlight?: number, readTimeoutMs?: number, maxInputBytes?: number, v2?: boolean } = {}): Promise<{ client: Awaited<ReturnType<typeof streamPair>>[0], served: Promise<void> }> {
  const [client, server] = await streamPair()
  const handler = jobStreamHandler({ jobs, modules: { has: init.has ?? (() => false) }, logger: silentLogger() }, {
    maxMessageBytes: 4 * MiB, maxInFlight: init.maxInFlight ?? 4, limiter: new PeerLimiter({ concurrency: 4, perSecond: 1000 }),
    budget: new InboundBudget({ maxBytes: 64 * MiB }), readTimeoutMs: init.readTimeoutMs ?? 10_000, maxInputBytes: init.maxInputBytes
  })
  const served = (init.v2 === true ? handler.v2 : handler)(server, PEER)
  return { client, served }
}

const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'none', (err: unknown) => isPhaseError(err) ? err.code : `untyped ${(err as Error)?.name}`)

describe('job protocol 1.0.0', () => {
  it('sends the module when the server answers the offer with need_module, and returns the signed result', async () => {
    const jobs = runner()
    const { client, served } = await serve(jobs)
    let asked = 0
    const m = manifest()
    const r = await offerJob(client, m, async () => { asked++; return MODULE }, { maxMessageBytes: 4 * MiB })
    await served
    expect(asked).toBe(1)
    expect(new TextDecoder().decode(r.stdout)).toBe('x')
    expect(Buffer.from(jobs.requests[0]!.module!)).toEqual(MODULE)
    expect(checkResult(PEER, { receipt_public_key: signer.publicKey }, m, r).status).toBe('ok')
  })

  it('does not ask for a module the server holds', async () => {
    const { client, served } = await serve(runner(), { has: () => true })
    await offerJob(client, manifest(), async () => { throw new Error('the module should not be asked for') }, { maxMessageBytes: 4 * MiB })
    await served
  })

  it('rejects an offer with queue_full when the server is at capacity', async () => {
    const { client, served } = await serve(runner(), { maxInFlight: 0 })
    expect(await codeOf(offerJob(client, manifest(), async () => MODULE, { maxMessageBytes: 4 * MiB }))).toBe('queue_full')
    await served
  })

  it('answers deadline_exceeded to a client that sends no offer before the read deadline', async () => {
    const { client, served } = await serve(runner(), { readTimeoutMs: 200 })
    const { messageStream, readJson } = await import('../../services/discovery/src/p2p/job-protocol.ts')
    const answer = await readJson(messageStream(client, MiB), 'answer', 'client', AbortSignal.timeout(10_000))
    expect(answer).toMatchObject({ type: 'error', code: 'deadline_exceeded' })
    await served
  })

  it('gives up on a server that never answers the offer at the client\'s read deadline', async () => {
    const [client] = await streamPair()
    expect(await codeOf(offerJob(client, manifest(), async () => MODULE, { maxMessageBytes: MiB, readTimeoutMs: 200 }))).toBe('deadline_exceeded')
  })
})

describe('job protocol 2.0.0', () => {
  it('answers need {module, inputs} for what the server lacks, takes them, and runs the job with them', async () => {
    const file = randomBytes(1000)
    const jobs = runner()
    const { client, served } = await serve(jobs, { v2: true, readTimeoutMs: 2000 })
    const m = manifest({ inputs: [{ path: '/in/a', hash: contentHash(file) }] } as Partial<Manifest>)
    const asked: string[] = []
    const r = await runJob2(jobChannel(client, 4 * MiB), m, async () => { asked.push('module'); return MODULE }, { loadInput: async (h) => { asked.push(h); return file } })
    expect(asked).toEqual(['module', contentHash(file)])
    expect(jobs.requests[0]!.inputs).toEqual([{ hash: contentHash(file), data: Buffer.from(file) }])
    expect(checkResult(PEER, { receipt_public_key: signer.publicKey }, m, r).exitCode).toBe(0)
    await client.close()
    await served
  })

  it('refuses input files over the per-job cap with limit_exceeded', async () => {
    const file = randomBytes(2000)
    const { client, served } = await serve(runner(), { v2: true, has: (h) => h === contentHash(MODULE), maxInputBytes: 1000 })
    const m = manifest({ inputs: [{ path: '/in/a', hash: contentHash(file) }] } as Partial<Manifest>)
    const r = await runJob2(jobChannel(client, 4 * MiB), m, async () => MODULE, { loadInput: async () => file }).then(() => 'none', (err: unknown) => (err as { code?: string }).code)
    expect(r).toBe('limit_exceeded')
    await served
  })

  it('sends nothing a server asks for that the job does not name', async () => {
    const [client, server] = await streamPair()
    const { messageStream, readJson, writeJson } = await import('../../services/discovery/src/p2p/job-protocol.ts')
    const lp = messageStream(server, MiB)
    void (async () => { await readJson(lp, 'job', 'server'); await writeJson(lp, { type: 'need', module: false, inputs: [contentHash(enc.encode('secret'))] }, 'need') })()
    let loaded = 0
    expect(await codeOf(runJob2(jobChannel(client, MiB), manifest(), async () => MODULE, { loadInput: async () => { loaded++; return enc.encode('secret') } }))).toBe('unavailable')
    expect(loaded).toBe(0)
  })
})

describe('receipt checks on what comes back', () => {
  const run = async (lie: (r: JobResult) => JobResult): Promise<string> => {
    const { client, served } = await serve(runner({ lie }), { has: () => true })
    const m = manifest()
    const r = await offerJob(client, m, async () => MODULE, { maxMessageBytes: 4 * MiB })
    await served
    try { checkResult(PEER, { receipt_public_key: signer.publicKey }, m, r); return 'accepted' } catch (err) { return isPhaseError(err) ? err.code : 'untyped' }
  }

  it('refuses a validly signed receipt whose output is not the bytes sent (a lying result)', async () => {
    expect(await run((r) => ({ ...r, stdout: enc.encode('not what was signed') }))).toBe('verification_failed')
  })

  it('refuses a message whose status disagrees with its signed receipt', async () => {
    expect(await run((r) => ({ ...r, status: 'exit', exitCode: 3 }))).toBe('verification_failed')
  })

  it('refuses a receipt signed by a key other than the one bound to the peer', async () => {
    const other = createReceiptSigner(randomBytes(32))
    const { client, served } = await serve(runner(), { has: () => true })
    const m = manifest()
    const r = await offerJob(client, m, async () => MODULE, { maxMessageBytes: 4 * MiB })
    await served
    expect(() => checkResult(PEER, { receipt_public_key: other.publicKey }, m, r)).toThrow(expect.objectContaining({ code: 'verification_failed' }) as unknown as Error)
  })

  it('refuses an honest receipt of another job (replayed)', async () => {
    const { client, served } = await serve(runner(), { has: () => true })
    const r = await offerJob(client, manifest(), async () => MODULE, { maxMessageBytes: 4 * MiB })
    await served
    expect(() => checkResult(PEER, { receipt_public_key: signer.publicKey }, manifest(), r)).toThrow(expect.objectContaining({ code: 'verification_failed' }) as unknown as Error)
  })
})
