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
import { startPeer, quicOf, connectionsOf } from '../helpers/network-peer.ts'

/** Longer than the grace a duplicate connection's streams get before it is closed (5 s). */
const JOB_MS = 6500
/**
 * Pairs that dial each other at once. In each, whether the connection a stream took first is the
 * one both keep is chance (it follows the random PeerIds): six pairs catch the old choice ~98%.
 */
const PAIRS = 6
const JOBS_PER_PAIR = 8
const limits = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 30_000, defaultTimeoutMs: 30_000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 }

describe('jobs between two nodes that dialed each other at once', () => {
  const nets: PhaseNetwork[] = []
  afterAll(async () => { await Promise.allSettled(nets.map(async (n) => { await n.stop() })) })

  it(`answers every job that outlives the duplicate's grace (${JOB_MS} ms), none cut with its connection`, async () => {
    // The peer answers each job after JOB_MS with a typed refusal: an answer that went all the way back.
    const slow = { running: 0, run: async () => { await new Promise((resolve) => setTimeout(resolve, JOB_MS)); throw new QueueFullError('answered late on purpose') } }
    const pairs = await Promise.allSettled(Array.from({ length: PAIRS }, async () => {
      const a = await startPeer([], undefined, { limits })
      nets.push(a)
      const b = await startPeer([], undefined, { limits, maxRemoteJobs: 100, perPeerConcurrency: 100 }, slow)
      nets.push(b)
      const tcpOf = (n: PhaseNetwork): string => n.addresses().find((x) => x.includes('/tcp'))!
      // Both directions at the same moment, on both transports (libp2p joins a node's own dials
      // to one peer): two connections at first when the dials cross.
      await Promise.all([a.dial(tcpOf(b)), b.dial(quicOf(a)), a.dial(quicOf(b)), b.dial(tcpOf(a))].map(async (p) => { await p.catch(() => {}) }))
      const duplicated = (connectionsOf(a).get(b.peerId) ?? 0) > 1
      const peerId = (await b.capability()).peer_id
      const jobs: Array<Promise<string>> = []
      for (let i = 0; i < JOBS_PER_PAIR; i++) {
        const manifest = parseManifest(new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: `sha256:${'a'.repeat(64)}`, nonce: randomBytes(16).toString('hex') })))
        jobs.push(a.runRemote(manifest, async () => new Uint8Array(8), { peerId, timeoutMs: 20_000 }).then(
          () => 'ran',
          (err: Error & { code?: string }) => `${err.code ?? 'untyped'}: ${err.message}`))
        await new Promise((resolve) => setTimeout(resolve, 40))
      }
      return { duplicated, outcomes: await Promise.all(jobs) }
    }))
    const done = pairs.map((p) => { if (p.status === 'rejected') throw p.reason; return p.value })
    // The case under test happened: some pair held two connections when its jobs went out.
    expect(done.filter((p) => p.duplicated).length).toBeGreaterThan(0)
    const all = done.flatMap((p) => p.outcomes)
    expect(all).toHaveLength(PAIRS * JOBS_PER_PAIR)
    // The peer's own answer, every time (the message names the refusal it sent).
    for (const outcome of all) expect(outcome).toMatch(/^queue_full: .*answered late on purpose/)
  }, 60_000)
})
