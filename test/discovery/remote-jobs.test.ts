/**
 * RemoteJobs against fakes of its narrow components: job streams that answer per peer (honest,
 * lying, refusing, gone), capability records binding a real receipt key, and the real
 * Reputation. Peer choice, fail-over, the receipt checks and what each outcome teaches.
 */
import { describe, it, expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { jobIdOf, inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { QueueFullError, UnavailableError } from '../../services/core/protocol/src/errors.ts'
import type { CapabilityRecord } from '../../services/core/protocol/src/crypto/capability.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { RemoteJobs, MAX_ATTEMPTS } from '../../services/discovery/src/p2p/remote-jobs.ts'
import { Reputation } from '../../services/discovery/src/p2p/reputation.ts'
import type { RemoteResult } from '../../services/discovery/src/p2p/job-protocol.ts'

const enc = new TextEncoder()
const PEERS = ['12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp', '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN', '12D3KooWNvSZnPi3RrhrTwEY4LuuBeB6K6facKUCJcyWG1aoDd2p', '12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq']
const signers = new Map(PEERS.map((p) => [p, createReceiptSigner(randomBytes(32))]))
const manifest = (): Manifest => ({ version: 1, module_hash: contentHash(enc.encode('m')), nonce: randomBytes(16).toString('hex'), args: ['x'] }) as Manifest

/** `peer`'s honest result for `job`, its stdout replaced by `stdout` when given (a lie under a valid signature of the truth). */
function result (peer: string, job: Manifest, stdout?: Uint8Array): RemoteResult {
  const out = enc.encode('x')
  const empty = new Uint8Array()
  const signer = signers.get(peer)!
  const { canonical } = signer.sign({
    version: 1, job_id: jobIdOf(job, contentHash), nonce: job.nonce, module_hash: job.module_hash, inputs_hash: inputsHashOf(job, contentHash),
    stdout_hash: contentHash(out), stdout_bytes: out.length, stderr_hash: contentHash(empty), stderr_bytes: 0,
    status: 'ok', exit_code: 0, limits: { memory_bytes: 1 << 20, timeout_ms: 1000, output_bytes: 1 << 20 }, wall_time_us: 1, cpu_time_us: 1,
    started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:00.000Z',
    node: { peer_id: peer, public_key: signer.publicKey }, runtime: { name: 'v8-wasm', version: 'test' }
  })
  return { jobId: jobIdOf(job, contentHash), status: 'ok', exitCode: 0, stdout: stdout ?? out, stderr: empty, receiptJson: canonical }
}

type Behaviour = 'honest' | 'lying' | 'busy' | 'gone' | 'broken'

function remoteJobs (behaviour: Record<string, Behaviour>, reputation = new Reputation({ random: () => 1 })): { jobs: RemoteJobs, tried: string[], reputation: Reputation } {
  const tried: string[] = []
  const jobs = new RemoteJobs({
    logger: silentLogger(),
    streams: {
      run: async (id, m) => {
        const peer = id.toString()
        tried.push(peer)
        switch (behaviour[peer]) {
          case 'lying': return result(peer, m, enc.encode('y'))
          case 'busy': throw new QueueFullError('busy')
          case 'gone': throw new UnavailableError('gone')
          // Not one of ours, as libp2p's errors are; its text as a peer could shape it.
          case 'broken': throw Object.assign(new Error(`stream reset\r\n${'x'.repeat(500)}`), { name: 'StreamResetError' })
          default: return result(peer, m)
        }
      }
    },
    capability: async (peer) => ({ receipt_public_key: signers.get(peer)!.publicKey }) as CapabilityRecord,
    jobPeers: async () => Object.keys(behaviour),
    findExecutors: async () => [],
    reputation
  })
  return { jobs, tried, reputation }
}

describe('RemoteJobs', () => {
  it('fails over from a lying peer to the next, refuses the lie, and remembers who lied', async () => {
    const { jobs, tried, reputation } = remoteJobs({ [PEERS[0]!]: 'lying', [PEERS[1]!]: 'honest' })
    const r = await jobs.run(manifest(), async () => new Uint8Array(), { timeoutMs: 5000 })
    expect(r.peerId).toBe(PEERS[1])
    expect(tried).toEqual([PEERS[0], PEERS[1]])
    expect(jobs.counts).toEqual({ jobsOut: 1, jobsOutFailed: 1, receiptsRefused: 1 })
    expect(reputation.get(PEERS[0]!).receiptsRefused).toBeCloseTo(1)
    expect(reputation.get(PEERS[1]!).receiptsVerified).toBeCloseTo(1)
    // The next job goes to the honest peer first.
    tried.length = 0
    await jobs.run(manifest(), async () => new Uint8Array(), { timeoutMs: 5000 })
    expect(tried).toEqual([PEERS[1]])
  })

  it(`tries at most ${MAX_ATTEMPTS} peers, and answers with the last peer's typed error`, async () => {
    const { jobs, tried, reputation } = remoteJobs({ [PEERS[0]!]: 'gone', [PEERS[1]!]: 'busy', [PEERS[2]!]: 'gone', [PEERS[3]!]: 'honest' })
    await expect(jobs.run(manifest(), async () => new Uint8Array(), { timeoutMs: 5000 })).rejects.toMatchObject({ code: 'unavailable' })
    expect(tried).toHaveLength(MAX_ATTEMPTS)
    expect(reputation.get(PEERS[0]!).failures).toBeCloseTo(1)
    expect(reputation.get(PEERS[1]!).refusals).toBeCloseTo(1)
  })

  it('names what broke when the last try failed with an error not of ours, and nothing of its message', async () => {
    const { jobs } = remoteJobs({ [PEERS[0]!]: 'broken' })
    const err = await jobs.run(manifest(), async () => new Uint8Array(), { timeoutMs: 5000, peerId: PEERS[0] }).then(() => { throw new Error('the job ran') }, (e: unknown) => e as Error & { code: string })
    expect(err.code).toBe('unavailable')
    expect(err.message).toBe('remote job failed on every peer tried (last: StreamResetError)')
  })

  it('runs on the peer named only, with no fail-over', async () => {
    const { jobs, tried } = remoteJobs({ [PEERS[0]!]: 'busy', [PEERS[1]!]: 'honest' })
    await expect(jobs.run(manifest(), async () => new Uint8Array(), { timeoutMs: 5000, peerId: PEERS[0] })).rejects.toMatchObject({ code: 'queue_full' })
    expect(tried).toEqual([PEERS[0]])
  })

  it('blames nobody when the caller gave up', async () => {
    const stop = new AbortController()
    stop.abort()
    const { jobs, reputation } = remoteJobs({ [PEERS[0]!]: 'gone' })
    await expect(jobs.run(manifest(), async () => new Uint8Array(), { timeoutMs: 5000, signal: stop.signal })).rejects.toMatchObject({ code: 'unavailable' })
    expect(reputation.size).toBe(0)
  })

  it('picks distinct peers best first, none excluded', async () => {
    const { jobs, reputation } = remoteJobs({ [PEERS[0]!]: 'honest', [PEERS[1]!]: 'honest', [PEERS[2]!]: 'honest' })
    reputation.record(PEERS[0]!, 'disagreement')
    for (let i = 0; i < 5; i++) reputation.record(PEERS[2]!, 'verified', 10)
    expect(await jobs.pick(3)).toEqual([PEERS[2], PEERS[1], PEERS[0]])
    expect(await jobs.pick(2, new Set([PEERS[2]!]))).toEqual([PEERS[1], PEERS[0]])
  })
})
