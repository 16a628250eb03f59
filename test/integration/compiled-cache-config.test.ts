/**
 * `module_cache.compiled_bytes` reaches each V8 executor: with a bound below one compiled module,
 * an executor keeps only the module it ran last (the one in use always stays), and a module
 * run again is compiled again and still answers.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { ExecutorService } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { startTestNode, type TestNode } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'

const enc = new TextEncoder()
/** A module of its own for each `n` (a different constant), each exiting with code n. */
const numbered = async (n: number): Promise<Uint8Array> => await compileWat(`(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const ${n}))))`)

describe('module_cache.compiled_bytes', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  beforeAll(async () => {
    node = await startTestNode({ executors: 1, config: { module_cache: { compiled_bytes: 1024 } } })
    client = createGrpcClient(NodeService, node.grpc)
  })
  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  const run = async (module: Uint8Array): Promise<bigint> => {
    const manifest = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex') }
    const r = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest)), module })
    expect(r.status).toBe('exit')
    return r.exitCode
  }
  const cached = async (): Promise<number> => {
    const status = createGrpcClient(ExecutorService, `unix:${join(node.dir, 'run', 'executors', 'executor-0.sock')}`)
    try { return (await status.getStatus({})).cachedModules } finally { status.close() }
  }

  it('keeps only the last module when the bound is below one compiled module, and runs an evicted one again', async () => {
    const modules = await Promise.all([1, 2, 3].map(numbered))
    for (const [i, m] of modules.entries()) expect(await run(m)).toBe(BigInt(i + 1))
    expect(await cached()).toBe(1)
    expect(await run(modules[0]!)).toBe(1n)
    expect(await cached()).toBe(1)
  })
})
