/**
 * NodeService.SubmitJobStream on a real node: jobs as messages on one stream, each answered by its
 * call id with what SubmitJob answers (a receipt that verifies, or the same typed error) without
 * ending the stream; the token checked on every call; a message past the stream cap refused before
 * the node reads it, the node serving on; and PhaseClient, which sends jobs on the stream, sending
 * a request too large for it as a unary call.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { PhaseClient, manifest, verify } from '../../sdk/ts/src/index.ts'
import { SubmitJobStreamRequestSchema, SubmitJobStreamResponseSchema, type SubmitJobStreamResponse } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { canonicalBytes } from '../../services/core/protocol/src/index.ts'
import { STREAM_MESSAGE_BYTES } from '../../services/core/protocol/src/message-budget.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { withCustomSection } from '../executor/wasm-bytes.ts'

const HELLO = new Uint8Array(readFileSync(join(ROOT, 'examples/hello/hello.wasm')))
const TOKEN = 'a-stream-token-of-32-characters!'
const PATH = '/phase.node.v1.NodeService/SubmitJobStream'

/** hello.wasm with a custom section that makes it `size` bytes or a little more: a valid module. */
function padded (size: number): Uint8Array {
  return withCustomSection(HELLO, new Uint8Array(Math.max(0, size - HELLO.byteLength)))
}

interface RawStream {
  send: (callId: number, module: Uint8Array | undefined, args: string[], named?: string) => void
  answers: Map<bigint, SubmitJobStreamResponse>
  status: Promise<grpc.StatusObject>
  next: (n: number) => Promise<void>
  end: () => void
}

/** A SubmitJobStream driven by hand through grpc-js, with `metadata` on the stream. */
function rawStream (client: grpc.Client, metadata: Record<string, string>): RawStream {
  const md = new grpc.Metadata()
  for (const [k, v] of Object.entries(metadata)) md.set(k, v)
  const call = client.makeBidiStreamRequest(PATH, (v: Uint8Array) => Buffer.from(v), (b: Buffer) => fromBinary(SubmitJobStreamResponseSchema, b), md)
  const answers = new Map<bigint, SubmitJobStreamResponse>()
  const waiters: Array<() => void> = []
  call.on('data', (msg: SubmitJobStreamResponse) => { answers.set(msg.callId, msg); for (const w of waiters.splice(0)) w() })
  call.on('error', () => {})
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve))
  return {
    send: (callId, module, args, named) => {
      const request = { manifestJson: canonicalBytes(manifest(named ?? HELLO).args(...args).build()), module }
      call.write(toBinary(SubmitJobStreamRequestSchema, create(SubmitJobStreamRequestSchema, { callId: BigInt(callId), request })))
    },
    answers,
    status,
    next: async (n) => { while (answers.size < n) await new Promise<void>((resolve) => waiters.push(resolve)) },
    end: () => call.end()
  }
}

describe('SubmitJobStream on a real node with a token', () => {
  let node: TestNode
  let raw: grpc.Client
  let key: string
  beforeAll(async () => {
    node = await startTestNode({ executors: 1, config: { api: { http: { host: '127.0.0.1', port: 0 }, token: TOKEN } } })
    raw = new grpc.Client(node.grpc, grpc.credentials.createInsecure())
    const client = new PhaseClient({ address: node.grpc, token: TOKEN })
    key = (await client.nodeInfo()).receiptPublicKey
    client.close()
  })
  afterAll(async () => {
    raw?.close()
    await node?.stop()
  })

  it('answers each call by its id, receipts that verify and typed errors alike, and the stream carries on', async () => {
    const s = rawStream(raw, { authorization: `Bearer ${TOKEN}` })
    s.send(7, HELLO, ['one'])
    s.send(8, HELLO, ['bad'], 'sha256:' + '0'.repeat(64)) // the manifest names other bytes
    s.send(9, undefined, ['two']) // the module is cached by now
    await s.next(3)
    const ok = [s.answers.get(7n), s.answers.get(9n)].map((a) => a?.result.case === 'response' ? a.result.value : undefined)
    expect(ok.map((r) => new TextDecoder().decode(r?.stdout))).toEqual(['eno\n', 'owt\n'])
    for (const r of ok) {
      const verified = await verify(r!.receiptJson, { expectedKey: key })
      expect(verified.receipt.job_id).toBe(r!.jobId)
    }
    expect(s.answers.get(8n)?.result).toMatchObject({ case: 'error', value: { code: 'hash_mismatch' } })
    s.end()
    expect((await s.status).code).toBe(grpc.status.OK)
  })

  it('refuses every call on a stream without the token, typed, and serves none', async () => {
    const s = rawStream(raw, {})
    s.send(1, HELLO, ['x'])
    s.send(2, HELLO, ['y'])
    await s.next(2)
    for (const id of [1n, 2n]) expect(s.answers.get(id)?.result).toMatchObject({ case: 'error', value: { code: 'unauthenticated' } })
    s.end()
    await s.status
    const wrong = new PhaseClient({ address: node.grpc, token: 'not-the-token-of-this-node' })
    try {
      await expect(wrong.run(join(ROOT, 'examples/hello/hello.wasm'), ['x'])).rejects.toMatchObject({ code: 'unauthenticated' })
    } finally {
      wrong.close()
    }
  })

  it('ends a stream whose message declares more than the cap with INVALID_ARGUMENT limit_exceeded, and serves on', async () => {
    const s = rawStream(raw, { authorization: `Bearer ${TOKEN}` })
    s.send(1, padded(STREAM_MESSAGE_BYTES + 1), ['big'])
    const status = await s.status
    expect([status.code, status.metadata.get('phase-error-code')[0]]).toEqual([grpc.status.INVALID_ARGUMENT, 'limit_exceeded'])
    expect(status.details).toMatch(/limited to 1048576 bytes/)
    expect(s.answers.size).toBe(0)
    const again = rawStream(raw, { authorization: `Bearer ${TOKEN}` })
    again.send(1, HELLO, ['after'])
    await again.next(1)
    expect(again.answers.get(1n)?.result).toMatchObject({ case: 'response', value: { status: 'ok' } })
    again.end()
    await again.status
  })

  it('PhaseClient sends small jobs on the stream and one larger than a stream message as a unary call, both verified', async () => {
    const client = new PhaseClient({ address: node.grpc, token: TOKEN })
    try {
      const big = padded(2 * STREAM_MESSAGE_BYTES)
      const results = await Promise.all([
        client.submit(manifest(HELLO).args('small'), HELLO, { expectedKey: key }),
        client.submit(manifest(big).args('large'), big, { expectedKey: key })
      ])
      expect(results.map((r) => [new TextDecoder().decode(r.stdout), r.verification.verified])).toEqual([['llams\n', true], ['egral\n', true]])
    } finally {
      client.close()
    }
  })
})
