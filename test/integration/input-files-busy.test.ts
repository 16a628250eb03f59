/**
 * An executor that misses its status polls while it takes in a job's big input files, or a big
 * module (admitted, rewritten and compiled on its main thread: ~6 s for 64 MiB here), is not
 * called frozen at once: the job stays and finishes (without this, discovery moved it after two
 * missed polls, and with one executor the client got executor_died and the module a strike; two
 * strikes quarantine it). The executor is made to miss its polls with SIGSTOP while the job is in
 * flight.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { ROOT, startTestNode, type TestNode } from '../helpers/node-harness.ts'
import { waitFor } from '../helpers/wait-for.ts'
import { bigModule } from '../helpers/big-module.ts'

const enc = new TextEncoder()
const MiB = 1024 * 1024

async function until (check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  await waitFor(check, { what, timeoutMs: 60_000 })
}

describe('an executor busy with big input files', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  beforeAll(async () => {
    node = await startTestNode({ executors: 1, config: { limits: { max_timeout_ms: 120_000 } } })
    client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 * MiB })
  }, 120_000)
  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  it('keeps its job when it misses status polls meanwhile', async () => {
    const module = new Uint8Array(await readFile(join(ROOT, 'test/programs/c/wc.wasm')))
    const data = randomBytes(64 * MiB - 1)
    const hash = contentHash(data)
    const manifest = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), inputs: [{ path: '/in/x', hash }], limits: { timeout_ms: 120_000 } }
    const pending = client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest)), module, inputs: [{ hash, data }] }, { timeoutMs: 180_000 })
      .then((r) => r.status, (err: { code: string }) => `error:${err.code}`)
    const pid = node.procs.get('executor-0')!.child.pid!
    await until(async () => (await client.getNodeStatus({})).jobsInFlight > 0, 'the job in flight')
    process.kill(pid, 'SIGSTOP')
    try {
      await until(() => /taking in input files or a module/.test(node.log('discovery')) || /its jobs move/.test(node.log('discovery')), 'two missed status polls')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    expect(node.log('discovery')).not.toMatch(/its jobs move/)
    expect(await pending).toBe('ok')
  }, 180_000)

  it('keeps a job with a big module when it misses status polls meanwhile', async () => {
    // A node of its own: the first test's input files leave its executor's busy window open.
    const node = await startTestNode({ executors: 1, config: { limits: { max_timeout_ms: 120_000 } } })
    const client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 * MiB })
    try {
      const from = node.log('discovery').length
      const module = bigModule(60 * MiB)
      const manifest = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), limits: { timeout_ms: 120_000 } }
      const pending = client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest)), module }, { timeoutMs: 180_000 })
        .then((r) => r.status, (err: { code: string }) => `error:${err.code}`)
      const pid = node.procs.get('executor-0')!.child.pid!
      await until(async () => (await client.getNodeStatus({})).jobsInFlight > 0, 'the job in flight')
      process.kill(pid, 'SIGSTOP')
      const since = (): string => node.log('discovery').slice(from)
      try {
        await until(() => /taking in input files or a module/.test(since()) || /its jobs move/.test(since()), 'two missed status polls')
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      // The job's outcome and what discovery said of its executor until then (a failure shows why).
      const status = await pending
      const said = since().split('\n').filter((l) => /executor/.test(l) && /"level":(40|50)/.test(l))
      expect({ status, moved: /its jobs move/.test(since()), said: status === 'ok' ? [] : said }).toEqual({ status: 'ok', moved: false, said: [] })
    } finally {
      client.close()
      await node.stop()
    }
  }, 240_000)
})
