/**
 * The protobuf-es → grpc-js bridge hands grpc-js the bytes toBinary made, not a copy of them:
 * grpc-js copies each message into its frame anyway, and a copy before that cost a job's whole
 * module (up to 64 MiB) once more at every hop.
 */
import { describe, it, expect, jest, afterEach } from '@jest/globals'
import { create, toBinary } from '@bufbuild/protobuf'
import { NodeService, SubmitJobRequestSchema, SubmitJobResponseSchema } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { ExecuteStreamRequestSchema } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { toGrpcDefinition } from '../../services/core/rpc/src/definition.ts'
import { asBuffer, messageCodec } from '../../services/core/rpc/src/codec.ts'

afterEach(() => { jest.restoreAllMocks() })

/** Calls `fn` and returns how many times it copied a typed array through Buffer.from. */
function copiesIn (fn: () => unknown): number {
  const from = jest.spyOn(Buffer, 'from')
  fn()
  const copies = from.mock.calls.filter(([arg]) => ArrayBuffer.isView(arg)).length
  from.mockRestore()
  return copies
}

describe('message encoding', () => {
  const module = new Uint8Array(4 * 1024 * 1024).fill(7)
  const request = create(SubmitJobRequestSchema, { manifestJson: new TextEncoder().encode('{"version":1}'), module })

  it('gives grpc-js the bytes toBinary made without copying them, requests and responses, unary and streamed', () => {
    const def = toGrpcDefinition(NodeService)
    let bytes: Buffer | undefined
    expect(copiesIn(() => { bytes = def.submitJob!.requestSerialize(request) })).toBe(0)
    expect(Buffer.isBuffer(bytes)).toBe(true)
    expect(Buffer.compare(bytes!, Buffer.from(toBinary(SubmitJobRequestSchema, request)))).toBe(0)
    const back = def.submitJob!.requestDeserialize(bytes!) as { module: Uint8Array }
    expect(Buffer.compare(back.module, module)).toBe(0)
    const response = create(SubmitJobResponseSchema, { stdout: module })
    expect(copiesIn(() => def.submitJob!.responseSerialize(response))).toBe(0)
    // The multiplexed stream's messages go through the same encoder (mux.ts).
    const streamed = create(ExecuteStreamRequestSchema, { callId: 1n })
    expect(copiesIn(() => messageCodec(ExecuteStreamRequestSchema).encode(streamed))).toBe(0)
  })

  it('views the same memory, offset and length included', () => {
    const backing = new Uint8Array([1, 2, 3, 4, 5, 6])
    const view = backing.subarray(2, 5)
    const buf = asBuffer(view)
    expect([...buf]).toEqual([3, 4, 5])
    backing[3] = 9
    expect(buf[1]).toBe(9)
  })
})
