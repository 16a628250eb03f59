/**
 * messageBudget(limits): the one formula behind every message cap. Its figures for the default
 * limits, and for each budget a message built at every cap at once (worst-case args: every byte
 * escaped in JSON) encoded the way it travels, which must fit.
 */
import { describe, it, expect } from '@jest/globals'
import { create, toBinary } from '@bufbuild/protobuf'
import { SubmitJobRequestSchema } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { ExecuteRequestSchema } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { messageBudget, CLIENT_MAX_MESSAGE_BYTES, MESSAGE_ROOM_BYTES, type MessageLimits } from '../../services/core/protocol/src/index.ts'
import { loadConfig } from '../../services/core/process/src/config.ts'

const MiB = 1024 * 1024
const enc = new TextEncoder()
const b64 = (n: number): string => Buffer.alloc(n, 0xff).toString('base64')

/** Args and env of exactly `bytes` as max_args_bytes counts them (+1 per arg, +2 per env entry), all control characters. */
function worstArgs (bytes: number): { args: string[], env: Record<string, string> } {
  const envEntries = Math.min(1000, Math.floor(bytes / 8))
  const env: Record<string, string> = {}
  // 1-byte key, 1-byte value: 4 counted bytes each; keys must differ, so they are numbered in \u0001..
  for (let i = 0; i < envEntries; i++) env[String.fromCodePoint(1 + (i % 30)) + String(i)] = '\u0002'
  let used = Object.keys(env).reduce((n, k) => n + Buffer.byteLength(k) + 1 + 2, 0)
  const args: string[] = []
  while (used < bytes) { const n = Math.min(bytes - used - 1, 200); args.push('\u0001'.repeat(Math.max(0, n))); used += Math.max(0, n) + 1 }
  return { args, env }
}

function manifestJson (limits: Required<MessageLimits>): string {
  const { args, env } = worstArgs(limits.maxArgsBytes)
  return JSON.stringify({
    version: 2, module_hash: `sha256:${'a'.repeat(64)}`, nonce: 'b'.repeat(32), args, env, stdin: b64(limits.maxStdinBytes),
    limits: { memory_mb: 4096, timeout_ms: 86_400_000, output_bytes: 1_073_741_824, fuel: 9_007_199_254_740_991 },
    inputs: [{ path: '/in/x', hash: `sha256:${'c'.repeat(64)}` }]
  })
}

const SMALL: Required<MessageLimits> = { maxModuleBytes: 256 * 1024, maxStdinBytes: 64 * 1024, maxArgsBytes: 512 * 1024, maxOutputBytes: 128 * 1024, maxInputBytes: 192 * 1024 }
const ARGS_HEAVY: Required<MessageLimits> = { ...SMALL, maxArgsBytes: 2 * MiB }

describe('messageBudget', () => {
  it('gives the figures of the default limits', () => {
    const config = loadConfig({ env: { HOME: '/home/op', PHASE_CONFIG: undefined }, uid: 1000 })
    const base64Module = Math.ceil(64 * MiB / 3) * 4
    expect(messageBudget(config.limits)).toEqual({
      grpcRequest: 64 * MiB + 128 * MiB + 8 * MiB + 6 * 64 * 1024 + MiB,
      httpBody: Math.ceil((64 * MiB + 128 * MiB + 8 * MiB + 6 * 64 * 1024 + MiB) / 3) * 4,
      httpJobWithoutInputs: base64Module + 8 * MiB + 6 * 64 * 1024 + MiB,
      executorRequest: 64 * MiB + 128 * MiB + 4 * MiB + 3 * 64 * 1024 + MiB,
      peerRequest: base64Module + MiB,
      peerResult: Math.ceil(4 * MiB / 3) * 4 * 2 + MiB
    })
    // The buffered budget is the schema's 128 MiB: one job without input files fits in it.
    expect(config.api.maxBufferedBytes).toBe(128 * MiB)
  })

  it('caps the public API\'s budgets at the buffered-bytes budget, and only those', () => {
    const all = messageBudget(SMALL)
    const capped = messageBudget(SMALL, 1000)
    expect(capped).toEqual({ ...all, grpcRequest: 1000, httpBody: 1000 })
  })

  it('takes limits.max_input_bytes\'s default when the limits name none', () => {
    const { maxInputBytes: _, ...rest } = SMALL
    expect(messageBudget(rest).executorRequest - messageBudget({ ...rest, maxInputBytes: 0 }).executorRequest).toBe(128 * MiB)
  })

  it.each([['small limits', SMALL], ['a large args cap', ARGS_HEAVY]] as const)('fits a message at every cap at once in each budget (%s)', (_name, limits) => {
    const budget = messageBudget(limits)
    const manifest = manifestJson(limits)
    const { args, env } = worstArgs(limits.maxArgsBytes)
    const input = { hash: `sha256:${'c'.repeat(64)}`, data: new Uint8Array(limits.maxInputBytes) }
    const submit = toBinary(SubmitJobRequestSchema, create(SubmitJobRequestSchema, {
      manifestJson: enc.encode(manifest), module: new Uint8Array(limits.maxModuleBytes), target: 'any', peerId: '12D3KooW' + 'x'.repeat(44), replicas: 3, inputs: [input]
    }))
    expect(submit.byteLength).toBeLessThanOrEqual(budget.grpcRequest)
    const body = (inputs: boolean): number => Buffer.byteLength(JSON.stringify({
      manifest: JSON.parse(manifest), module: b64(limits.maxModuleBytes), target: 'any', peer_id: '12D3KooW' + 'x'.repeat(44), replicas: 3,
      ...(inputs ? { inputs: [{ hash: input.hash, data: b64(limits.maxInputBytes) }] } : {})
    }))
    expect(body(true)).toBeLessThanOrEqual(budget.httpBody)
    expect(body(false)).toBeLessThanOrEqual(budget.httpJobWithoutInputs)
    const execute = toBinary(ExecuteRequestSchema, create(ExecuteRequestSchema, {
      jobId: `sha256:${'d'.repeat(64)}`, moduleHash: `sha256:${'a'.repeat(64)}`, module: new Uint8Array(limits.maxModuleBytes), args, env,
      stdin: new Uint8Array(limits.maxStdinBytes), limits: { memoryBytes: 1n << 40n, timeoutMs: 86_400_000, outputBytes: 1n << 30n, fuel: 1n << 53n },
      inputs: [{ path: '/in/x', hash: input.hash, data: input.data }], profile: 'deterministic'
    } as never))
    expect(execute.byteLength).toBeLessThanOrEqual(budget.executorRequest)
    const offer = Buffer.byteLength(JSON.stringify({ type: 'offer', version: 1, manifest: JSON.parse(manifest) }))
    const module = Buffer.byteLength(JSON.stringify({ type: 'module', module_base64: b64(limits.maxModuleBytes) }))
    expect(Math.max(offer, module)).toBeLessThanOrEqual(budget.peerRequest)
    const result = Buffer.byteLength(JSON.stringify({ type: 'result', stdout_base64: b64(limits.maxOutputBytes), stderr_base64: b64(limits.maxOutputBytes), receipt_json: 'r'.repeat(4096) }))
    expect(result).toBeLessThanOrEqual(budget.peerResult)
  })

  it('lets a client that does not know its node take the largest answer any node may send', () => {
    expect(CLIENT_MAX_MESSAGE_BYTES).toBe(1024 * MiB + MESSAGE_ROOM_BYTES)
  })
})
