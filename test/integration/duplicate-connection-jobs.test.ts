/**
 * Jobs between two nodes that dialed each other at once. Both ends keep one of their direct
 * connections and close the others once no stream runs on them, or after a grace of seconds
 * (connection-dedupe.ts); a job stream opened on a connection being closed was cut when the grace
 * ran out, and the job lost ("the stream ended while reading result"). Streams go on the
 * connection both ends keep, so every job here gets its answer however long it runs.
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import type { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { parseManifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { QueueFullError } from '../../services/core/protocol/src/errors.ts'
import { startPeer, quicOf } from '../helpers/network-peer.ts'

/** Longer than the grace a duplicate connection's streams get before it is closed (5 s). */
const JOB_MS = 6500
/** Pairs that dial each other at once: in each, which connection a job's stream took first is chance. */
const PAIRS = 3
const JOBS_PER_PAIR = 8
const limits = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 30_000, defaultTimeoutMs: 30_000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 }

describe('jobs between two nodes that dialed each other at once', () => {
  const nets: PhaseNetwork[] = []
  afterAll(async () => { await Promise.allSettled(nets.map(async (n) => { await n.stop() })) })

  it(`answers every job that outlives the duplicate's grace (${JOB_MS} ms), none cut with its connection`, async () => {
    // The peer answers each job after JOB_MS with a typed refusal: an answer that went all the way back.
    const slow = { running: 0, run: async () => { await new Promise((resolve) => setTimeout(resolve, JOB_MS)); throw new QueueFullError('answered late on purpose') } }
    const outcomes = await Promise.all(Array.from({ length: PAIRS }, async () => {
      const a = await startPeer([], undefined, { limits })
      const b = await startPeer([], undefined, { limits, maxRemoteJobs: 100, perPeerConcurrency: 100 }, slow)
      nets.push(a, b)
      const tcpOf = (n: PhaseNetwork): string => n.addresses().find((x) => x.includes('/tcp'))!
      // Both directions at the same moment, on both transports: up to four connections at first.
      await Promise.all([a.dial(tcpOf(b)), b.dial(quicOf(a)), a.dial(quicOf(b)), b.dial(tcpOf(a))].map(async (p) => { await p.catch(() => {}) }))
      const peerId = (await b.capability()).peer_id
      const jobs: Array<Promise<string>> = []
      for (let i = 0; i < JOBS_PER_PAIR; i++) {
        const manifest = parseManifest(new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: `sha256:${'a'.repeat(64)}`, nonce: randomBytes(16).toString('hex') })))
        jobs.push(a.runRemote(manifest, async () => new Uint8Array(8), { peerId, timeoutMs: 20_000 }).then(
          () => 'ran',
          (err: Error & { code?: string }) => `${err.code ?? 'untyped'}: ${err.message}`))
        await new Promise((resolve) => setTimeout(resolve, 40))
      }
      return await Promise.all(jobs)
    }))
    const all = outcomes.flat()
    expect(all).toHaveLength(PAIRS * JOBS_PER_PAIR)
    // The peer's own answer, every time (the message names the refusal it sent).
    for (const outcome of all) expect(outcome).toMatch(/^queue_full: .*answered late on purpose/)
  }, 60_000)
})
