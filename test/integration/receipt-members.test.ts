/**
 * The receipt's optional members taken from the executor's answer, on a real node: `trap` (only
 * with status trap), `compile_time_us` (only for the job that compiled the module), `outputs`
 * (only when the job wrote files) — absent otherwise, so receipts of other jobs keep their shape.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { startTestNode, type TestNode } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'

const enc = new TextEncoder()
const TRAP = await compileWat('(module (memory (export "memory") 1) (func (export "_start") unreachable))')
const NOTHING = await compileWat('(module (memory (export "memory") 1) (func (export "_start") nop))')

describe('receipt members from the executor', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  beforeAll(async () => {
    node = await startTestNode({ executors: 1 })
    client = createGrpcClient(NodeService, node.grpc)
  }, 120_000)
  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  async function receipt (module: Uint8Array): Promise<Record<string, unknown>> {
    const manifest = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex') }
    const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest)), module }, { timeoutMs: 60_000 })
    return JSON.parse(new TextDecoder().decode(res.receiptJson)) as Record<string, unknown>
  }

  it('names the trap reason with status trap', async () => {
    const r = await receipt(TRAP)
    expect(r.status).toBe('trap')
    expect(r.trap).toBe('unreachable')
  })

  it('carries compile_time_us for the job that compiled the module, and not for the next', async () => {
    const first = await receipt(NOTHING)
    expect(first.status).toBe('ok')
    expect(first.compile_time_us).toEqual(expect.any(Number))
    expect(first.compile_time_us as number).toBeGreaterThan(0)
    const second = await receipt(NOTHING)
    expect(second).not.toHaveProperty('compile_time_us')
    // No trap member without status trap, no outputs member without files.
    expect(second).not.toHaveProperty('trap')
    expect(second).not.toHaveProperty('outputs')
  })
})
