/**
 * Fuzzing the public gRPC API of a running node: every method through the real typed client
 * with random and mutated fields (manifest bytes, module bytes, target, peer id, replicas,
 * hashes, lookup filters), and raw protobuf bytes — random, and valid requests with bytes
 * flipped, cut or appended — on every method path and on health. No INTERNAL or UNKNOWN status,
 * every refusal typed (`phase-error-code`), no process lost, discovery's memory back within 20%.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import fc from 'fast-check'
import * as grpc from '@grpc/grpc-js'
import { writeFileSync } from 'node:fs'
import { create, toBinary } from '@bufbuild/protobuf'
import { NodeService, SubmitJobRequestSchema, HasModuleRequestSchema } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { figure } from '../helpers/figures.ts'
import { hostile, json } from './arbitraries.ts'
import { deadProcesses, isErrorCode, memoryAfter, rebase, startFuzzNode, Tally, HELLO, HELLO_HASH, type FuzzNode } from './fuzz-node.ts'
import { params, SEED, budget } from './fuzz-config.ts'

let f: FuzzNode
let client: GrpcClient<typeof NodeService>
let raw: grpc.Client
beforeAll(async () => {
  f = await startFuzzNode()
  client = createGrpcClient(NodeService, f.node.grpc, { timeoutMs: 15_000 })
  raw = new grpc.Client(f.node.grpc, grpc.credentials.createInsecure())
}, 60_000)
afterAll(async () => {
  client?.close()
  raw?.close()
  await f?.node.stop()
})

const enc = new TextEncoder()
const outcomes = new Tally()
const bad: string[] = []
let rawCalls = 0
let typedCalls = 0

afterAll(() => {
  figure('bad input', 'gRPC fuzz inputs (typed client)', typedCalls, `inputs (seed ${SEED})`)
  figure('bad input', 'gRPC fuzz inputs (raw protobuf bytes)', rawCalls, 'inputs')
  figure('bad input', 'gRPC outcomes', outcomes.summary())
  figure('bad input', 'gRPC INTERNAL / UNKNOWN / untyped refusals', bad.length, bad.length === 0 ? 'pass' : 'FAIL')
  if ((process.env.FUZZ_DEBUG ?? '') !== '') writeFileSync(process.env.FUZZ_DEBUG!, bad.join('\n'))
})

/** A typed-client call: a value, or a PhaseError that is not `internal`. */
async function typed (what: string, call: () => Promise<unknown>): Promise<void> {
  typedCalls++
  try {
    await call()
    outcomes.add('ok')
  } catch (err) {
    const code = isPhaseError(err) ? err.code : `untyped ${(err as Error)?.name}`
    outcomes.add(code)
    // `unavailable` is the typed answer to a job for another node when no peer is connected.
    if (code === 'internal' || !isPhaseError(err)) bad.push(`${what}: ${code}: ${(err as Error).message}`.slice(0, 300))
  }
}

/** A raw call with identity (de)serializers: the status must not be INTERNAL/UNKNOWN, and refusals of our methods carry a phase-error-code. */
async function rawCall (path: string, bytes: Uint8Array): Promise<void> {
  rawCalls++
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(bytes), new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (e) => resolve(e))
  })
  if (err === null) { outcomes.add('ok'); return }
  const sent = err.metadata?.get('phase-error-code')?.[0]
  outcomes.add(`${grpc.status[err.code]}${sent !== undefined ? `/${String(sent)}` : ''}`)
  const ours = path.startsWith('/phase.')
  if (err.code === grpc.status.INTERNAL || err.code === grpc.status.UNKNOWN || (ours && !isErrorCode(sent))) {
    bad.push(`${path} ${Buffer.from(bytes.subarray(0, 40)).toString('hex')}: ${grpc.status[err.code]} ${err.details}`.slice(0, 300))
  }
}

// FindExecutors waits on the DHT: fuzzed on its own below (a few calls), not in the mix.
const METHODS = ['SubmitJob', 'HasModule', 'GetNodeInfo', 'GetNodeStatus', 'ListPeers'].map((m) => `/phase.node.v1.NodeService/${m}`)
const PATHS = [...METHODS, '/grpc.health.v1.Health/Check']

/** Valid request bytes of each method, to mutate. */
function validRequests (): Array<[string, Uint8Array]> {
  return [
    [METHODS[0]!, toBinary(SubmitJobRequestSchema, create(SubmitJobRequestSchema, { manifestJson: enc.encode(JSON.stringify(f.manifest())), target: 'local' }))],
    [METHODS[1]!, toBinary(HasModuleRequestSchema, create(HasModuleRequestSchema, { moduleHash: HELLO_HASH }))],
  ]
}

/** Protobuf bytes changed: a byte flipped, the message cut, random bytes inserted or appended (odd tags, huge lengths). */
const mutation = fc.record({
  op: fc.constantFrom('flip', 'cut', 'insert', 'append', 'varint'),
  at: fc.nat(),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 16 })
})
function mutate (bytes: Uint8Array, m: { op: string, at: number, bytes: Uint8Array }): Uint8Array {
  const at = m.at % (bytes.length + 1)
  switch (m.op) {
    case 'flip': { const out = Uint8Array.from(bytes); if (out.length > 0) out[at % out.length]! ^= m.bytes[0]! | 1; return out }
    case 'cut': return bytes.subarray(0, at)
    case 'insert': return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)])
    // A length-delimited field 1 announcing far more bytes than follow.
    case 'varint': return Buffer.concat([bytes, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), m.bytes])
    default: return Buffer.concat([bytes, m.bytes])
  }
}

describe('public gRPC API under fuzzing', () => {
  it('answers SubmitJob with random and mutated fields with a result or a typed error', async () => {
    const text = fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('local', 'remote', 'auto', '', 'LOCAL', '12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba', 'x'.repeat(5000)))
    const request = fc.record({
      manifest: hostile(f.manifest()),
      module: fc.option(fc.oneof(fc.constant(HELLO), fc.uint8Array({ maxLength: 256 }), fc.constant(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])))),
      target: fc.option(text),
      peerId: fc.option(text),
      replicas: fc.option(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(4294967295, 17, 2 ** 31)))
    })
    // Warm-up: the first inputs grow buffers, caches and JIT code; the baseline is taken after them.
    const submit = async (r: fc.Arbitrary<unknown> extends never ? never : { manifest: Uint8Array, module: Uint8Array | null, target: string | null, peerId: string | null, replicas: number | null }): Promise<void> => {
      await typed(`SubmitJob ${Buffer.from(r.manifest.subarray(0, 80)).toString('latin1')}`, async () => await client.submitJob({
        manifestJson: r.manifest, module: r.module ?? undefined, target: r.target ?? undefined, peerId: r.peerId ?? undefined, replicas: r.replicas ?? undefined
      }))
    }
    await fc.assert(fc.asyncProperty(request, submit), { seed: SEED + 1, numRuns: 400 })
    await rebase(f)
    await fc.assert(fc.asyncProperty(request, submit), params(600))
    expect(bad.slice(0, 5)).toEqual([])
  }, budget(600_000))

  it('answers the other methods with random fields with a value or a typed error', async () => {
    const hash = fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom(HELLO_HASH, 'sha256:', `sha256:${'0'.repeat(64)}`, 'sha256:' + 'A'.repeat(64), '\u0000'))
    await fc.assert(fc.asyncProperty(fc.oneof(
      hash.map((h) => ['HasModule', async () => await client.hasModule({ moduleHash: h })] as const),
      fc.constantFrom(['GetNodeInfo', async () => await client.getNodeInfo({})] as const, ['GetNodeStatus', async () => await client.getNodeStatus({})] as const, ['ListPeers', async () => await client.listPeers({})] as const)
    ), async ([what, call]) => { await typed(what, call) }), params(250))
    expect(bad.slice(0, 5)).toEqual([])
  }, budget(600_000))

  it('answers FindExecutors with random filters promptly (a bounded DHT lookup) when no peer is connected', async () => {
    const find = fc.record({ runtime: fc.string({ maxLength: 40 }), arch: fc.string({ maxLength: 20 }), minMemoryMb: fc.nat(), minCores: fc.nat(), limit: fc.oneof(fc.nat(), fc.constant(4294967295)) })
    const slow: string[] = []
    await fc.assert(fc.asyncProperty(find, async (q) => {
      const started = Date.now()
      // The client's deadline is generous; the node must bound its own lookup well below it.
      await typed('FindExecutors', async () => await client.findExecutors(q, { timeoutMs: 10_000 }))
      const ms = Date.now() - started
      if (ms > 5000) slow.push(`${JSON.stringify(q)}: ${ms} ms`)
    }), { seed: SEED, numRuns: 3 })
    figure('bad input', 'gRPC FindExecutors with no peer: lookups over 5 s (client deadline 10 s)', slow.length, slow.length === 0 ? 'pass' : 'FAIL')
    expect(slow).toEqual([])
  }, 120_000)

  it('answers raw random protobuf bytes on every method path without INTERNAL, typed', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...PATHS), fc.oneof(fc.uint8Array({ maxLength: 512 }), json.map((j) => enc.encode(JSON.stringify(j)))), async (path, bytes) => {
      await rawCall(path, bytes)
    }), params(300))
    expect(bad.slice(0, 5)).toEqual([])
  }, budget(600_000))

  it('answers mutated valid requests (bytes flipped, cut, inserted, lengths overstated) without INTERNAL, typed', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...validRequests()), fc.array(mutation, { minLength: 1, maxLength: 3 }), async ([path, bytes], ms) => {
      await rawCall(path, ms.reduce(mutate, bytes))
    }), params(400))
    expect(bad.slice(0, 5)).toEqual([])
  }, budget(600_000))

  it('keeps every process (same pids) and brings discovery\'s memory back within 20% of the start', async () => {
    expect(deadProcesses(f)).toEqual([])
    const { ratio } = await memoryAfter(f, 'gRPC fuzz')
    expect(ratio).toBeLessThanOrEqual(1.2)
    const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(f.manifest())) })
    expect(res.status).toBe('ok')
  }, 60_000)
})
