/**
 * Fuzzing the libp2p protocols of a running node from a real test peer (TCP + Noise + yamux on
 * loopback): on `/phase/job/1.0.0`, random length-prefixed frames, mutated valid offers (fresh
 * nonces keep some jobs running), raw bytes that are not length-prefixed, and a valid offer
 * followed by a mutated module message; on `/phase/capability/1.0.0`, random bytes before the
 * read. Every answer is a result or a typed refusal (never `internal`); the node keeps its
 * processes and signs the same capability record; discovery's memory is back within 20%.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import fc from 'fast-check'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import * as varint from 'uint8-varint'
import { writeFileSync } from 'node:fs'
import { verifyCapability } from '../../services/core/protocol/src/crypto/capability.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { figure } from '../helpers/figures.ts'
import { hostile, json } from './arbitraries.ts'
import { deadProcesses, freshNonce, isErrorCode, memoryAfter, rebase, startFuzzNode, Tally, HELLO, type FuzzNode } from './fuzz-node.ts'
import { params, SEED, budget } from './fuzz-config.ts'

const JOB = '/phase/job/1.0.0'
const CAPABILITY = '/phase/capability/1.0.0'
const enc = new TextEncoder()
const dec = new TextDecoder()

let f: FuzzNode
let probe: Libp2p
let target: Multiaddr
let peerId: string
beforeAll(async () => {
  f = await startFuzzNode()
  const addr = f.node.p2p.find((a) => a.includes('/tcp/'))!
  target = multiaddr(addr)
  peerId = addr.slice(addr.lastIndexOf('/p2p/') + 5)
  probe = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}, 60_000)
afterAll(async () => {
  await probe?.stop()
  await f?.node.stop()
})

const outcomes = new Tally()
const bad: string[] = []
let inputs = 0
afterAll(() => {
  figure('bad input', 'libp2p fuzz inputs (job + capability streams)', inputs, `inputs (seed ${SEED})`)
  figure('bad input', 'libp2p answers', outcomes.summary())
  figure('bad input', 'libp2p internal / untyped answers', bad.length, bad.length === 0 ? 'pass' : 'FAIL')
  if ((process.env.FUZZ_DEBUG ?? '') !== '') writeFileSync(process.env.FUZZ_DEBUG!, bad.join('\n'))
})

function frame (bytes: Uint8Array): Uint8Array {
  return Buffer.concat([varint.encode(bytes.length), bytes])
}

/**
 * Sends `frames` (already framed or raw) on a fresh job stream, closes our side, and reads the
 * answers until the node closes: each must be JSON of a known type, refusals with a typed code.
 */
async function jobStream (frames: Uint8Array[], what: string, continueWith?: (answer: Record<string, unknown>) => Uint8Array | undefined): Promise<void> {
  inputs++
  const stream = await probe.dialProtocol(target, JOB, { signal: AbortSignal.timeout(10_000) })
  const lp = lpStream(stream, { maxDataLength: 64 << 20 })
  for (const bytes of frames) stream.send(bytes)
  let closed = false
  const closeOurSide = async (): Promise<void> => { if (!closed) { closed = true; await stream.close().catch(() => {}) } }
  if (continueWith === undefined) await closeOurSide()
  let answered = false
  try {
    for (;;) {
      const bytes = await lp.read({ signal: AbortSignal.timeout(15_000) })
      answered = true
      let doc: Record<string, unknown>
      try { doc = JSON.parse(dec.decode(bytes.subarray())) } catch { bad.push(`${what}: answer is not JSON`); return }
      const type = String(doc.type)
      if (type === 'error' || type === 'reject') {
        outcomes.add(`${type}:${String(doc.code)}`)
        if (!isErrorCode(doc.code) || doc.code === 'internal') bad.push(`${what}: ${type} ${String(doc.code)} ${String(doc.message)}`.slice(0, 300))
        return
      }
      outcomes.add(type)
      if (type === 'result') return
      if (type !== 'accept') { bad.push(`${what}: unknown answer type ${type.slice(0, 40)}`); return }
      const next = continueWith?.(doc)
      if (next !== undefined) stream.send(next)
      await closeOurSide()
    }
  } catch (err) {
    // The node ended the stream without (another) answer.
    const name = (err as Error)?.name ?? String(err)
    outcomes.add(answered ? `closed after answer (${name})` : `closed without answer (${name})`)
    if (!answered) bad.push(`${what}: no answer (${name}: ${(err as Error)?.message})`.slice(0, 300))
  } finally {
    stream.abort(new Error('done'))
  }
}

const offer = (): Record<string, unknown> => ({ type: 'offer', version: 1, manifest: f.manifest() })
/** Nonce of the templates the mutations start from (replaced by a fresh one in every input). */
const nonceOf = (o: Record<string, unknown>): string => ((o.manifest ?? o) as { nonce: string }).nonce

describe('libp2p job and capability protocols under fuzzing', () => {
  it('answers random and mutated length-prefixed offers with a result or a typed refusal', async () => {
    const template = offer()
    const fresh = (b: Uint8Array): Uint8Array => freshNonce(b, nonceOf(template), nonceOf(f.manifest()))
    const input = fc.oneof(
      { arbitrary: hostile(template).map((b) => [frame(fresh(b))]), weight: 6 },
      // The manifest inside a well-formed offer mutated (a fresh nonce each time).
      { arbitrary: hostile(template.manifest as Record<string, unknown>).map(fresh).map((m) => [frame(Buffer.concat([enc.encode('{"type":"offer","version":1,"manifest":'), m, enc.encode('}')]))]), weight: 3 },
      { arbitrary: fc.array(fc.uint8Array({ maxLength: 300 }).map(frame), { minLength: 1, maxLength: 3 }), weight: 1 },
      { arbitrary: json.map((j) => [frame(enc.encode(JSON.stringify(j)))]), weight: 1 }
    )
    const run = async (frames: Uint8Array[]): Promise<void> => { await jobStream(frames, `offer ${Buffer.from(frames[0]!.subarray(0, 100)).toString('latin1')}`) }
    await fc.assert(fc.asyncProperty(input, run), { seed: SEED + 1, numRuns: 300 })
    await rebase(f)
    const mark = bad.length
    await fc.assert(fc.asyncProperty(input, run), params(600))
    expect(bad.slice(mark, mark + 5)).toEqual([])
  }, budget(600_000))

  it('answers bytes that are not length-prefixed frames (bad varints, announced sizes over the cap, empty) with a typed refusal', async () => {
    const raw = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constant(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
      fc.integer({ min: (1 << 20) + 1, max: 2 ** 40 }).map((n) => varint.encode(n)),
      fc.constant(new Uint8Array(0))
    )
    const mark = bad.length
    await fc.assert(fc.asyncProperty(raw, async (bytes) => { await jobStream([bytes], `raw ${Buffer.from(bytes).toString('hex').slice(0, 60)}`) }), params(150))
    expect(bad.slice(mark, mark + 5)).toEqual([])
  }, budget(600_000))

  it('answers a valid offer followed by a mutated module message with a typed refusal or a result', async () => {
    const module = hostile({ type: 'module', module_base64: HELLO.toString('base64') })
    const mark = bad.length
    await fc.assert(fc.asyncProperty(module, async (bytes) => {
      // A module the node lacks, so it asks for the module and reads the mutated message.
      const m = { ...f.manifest(), module_hash: `sha256:${'0'.repeat(63)}${inputs % 10}` }
      await jobStream([frame(enc.encode(JSON.stringify({ type: 'offer', version: 1, manifest: m })))], `module ${Buffer.from(bytes.subarray(0, 80)).toString('latin1')}`,
        (answer) => answer.need_module === true ? frame(bytes) : undefined)
    }), params(100))
    expect(bad.slice(mark, mark + 5)).toEqual([])
  }, budget(600_000))

  it('serves its own signed capability record whatever the peer sends first', async () => {
    const mark = bad.length
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
      inputs++
      const stream = await probe.dialProtocol(target, CAPABILITY, { signal: AbortSignal.timeout(10_000) })
      try {
        if (bytes.length > 0) stream.send(bytes)
        await stream.close().catch(() => {})
        const lp = lpStream(stream, { maxDataLength: 1 << 20 })
        // Verified on the exact bytes received, as a node does.
        await verifyCapability((await lp.read({ signal: AbortSignal.timeout(15_000) })).subarray(), peerId)
        outcomes.add('capability record')
      } catch (err) {
        bad.push(`capability after ${Buffer.from(bytes).toString('hex').slice(0, 40)}: ${isPhaseError(err) ? err.code : (err as Error)?.name} ${(err as Error)?.message}`.slice(0, 300))
      } finally {
        stream.abort(new Error('done'))
      }
    }), params(150))
    expect(bad.slice(mark, mark + 5)).toEqual([])
  }, budget(600_000))

  it('keeps every process (same pids), still runs a remote job, and brings discovery\'s memory back within 20% of the start', async () => {
    expect(deadProcesses(f)).toEqual([])
    const { ratio } = await memoryAfter(f, 'libp2p fuzz')
    expect(ratio).toBeLessThanOrEqual(1.2)
    const before = outcomes.counts.get('result') ?? 0
    await jobStream([frame(enc.encode(JSON.stringify(offer())))], 'final offer')
    expect(outcomes.counts.get('result')).toBe(before + 1)
  }, 60_000)
})
