/**
 * Executor faults seen from discovery, on a real node (signer, executors, discovery as
 * processes): an executor frozen with SIGSTOP is routed around and marked down, a job whose
 * executor dies or freezes is run again at most once and its module quarantined after two, and
 * no receipt is ever signed for work that did not finish.
 *
 * The poison module is simulated: the executor's sandbox survives every known hostile module,
 * so the test plays the poison's part and SIGKILLs (or SIGSTOPs) whichever executor starts
 * running the job.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService, type GetNodeStatusResponse } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { ExecutorService } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { startPm2Node, type Pm2Node } from '../helpers/pm2-node.ts'
import { compileWat } from '../helpers/wat.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
// A few milliseconds of work, so that concurrent jobs overlap on both executors.
const BUSY = await compileWat(`(module (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (local.set $i (i32.const 3000000))
    (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))))`)
const LOOP = await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')
const enc = new TextEncoder()
const dec = new TextDecoder()

function manifest (module: Uint8Array, extra: Record<string, unknown> = {}): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), args: ['x'], ...extra }))
}

type Client = GrpcClient<typeof NodeService>

/** The job's status, or its error code: every job must end in one or the other. */
async function outcome (client: Client, module: Uint8Array, extra: Record<string, unknown> = {}): Promise<string> {
  try {
    const res = await client.submitJob({ manifestJson: manifest(module, extra), module }, { timeoutMs: 120_000 })
    return res.status
  } catch (err) {
    return `error:${(err as { code: string }).code}`
  }
}

async function until (client: Client, ok: (s: GetNodeStatusResponse) => boolean, what: string): Promise<GetNodeStatusResponse> {
  let last: GetNodeStatusResponse | undefined
  return await waitFor(async () => { last = await client.getNodeStatus({}); return ok(last) && last }, {
    what, intervalMs: 100, detail: () => `last status: ${JSON.stringify(last?.processes.map((p) => [p.name, p.index, p.state]))}`
  })
}

const executor = (s: GetNodeStatusResponse, index: number): GetNodeStatusResponse['processes'][number] | undefined =>
  s.processes.find((p) => p.name === 'executor' && p.index === index)
const signed = (s: GetNodeStatusResponse): bigint => s.processes.find((p) => p.name === 'signer')!.completed

describe('executor faults', () => {
  describe('an executor frozen with SIGSTOP', () => {
    let node: TestNode
    let client: Client
    beforeAll(async () => {
      node = await startTestNode({ executors: 2 })
      client = createGrpcClient(NodeService, node.grpc)
    })
    afterAll(async () => {
      client?.close()
      await node?.stop()
    })

    it('is routed around and marked down, and nothing is signed for the job it held', async () => {
      await until(client, (s) => [0, 1].every((i) => executor(s, i)?.state === 'up'), 'both executors up')
      expect(await outcome(client, HELLO)).toBe('ok')
      const signedBefore = signed(await client.getNodeStatus({}))
      const pid = node.procs.get('executor-0')!.child.pid!
      const stoppedAt = Date.now()
      process.kill(pid, 'SIGSTOP')
      try {
        // Sent at once, this job may still reach the frozen executor: then it ends with a
        // typed deadline error, never silently and never with a receipt.
        const first = await outcome(client, HELLO, { limits: { timeout_ms: 1000 } })
        expect(['ok', 'error:deadline_exceeded']).toContain(first)
        // Three jobs one at a time: each is served by the executor that answers.
        const next: string[] = []
        let servedAfterMs = first === 'ok' ? Date.now() - stoppedAt : -1
        for (let i = 0; i < 3; i++) {
          next.push(await outcome(client, HELLO))
          if (servedAfterMs < 0 && next.at(-1) === 'ok') servedAfterMs = Date.now() - stoppedAt
        }
        expect(next).toEqual(['ok', 'ok', 'ok'])
        const during = await until(client, (s) => executor(s, 0)?.state === 'down', 'executor 0 down')
        expect(executor(during, 1)!.state).toBe('up')
        figure('faults', 'SIGSTOP of an executor: time until jobs are served again', servedAfterMs, 'ms')
        figure('faults', 'SIGSTOP of an executor: jobs without a result or typed error', 0, 'jobs')
        const okCount = [first, ...next].filter((x) => x === 'ok').length
        process.kill(pid, 'SIGCONT')
        // Thawed, the executor finishes what it held; discovery gave up on it and signs nothing.
        const after = await until(client, (s) => executor(s, 0)?.state === 'up', 'executor 0 up again')
        const own = createGrpcClient(ExecutorService, `unix:${join(node.dir, 'run', 'executors', 'executor-0.sock')}`)
        try {
          await waitFor(async () => { const s = await own.getStatus({}); return s.running === 0 && s.queued === 0 }, { what: 'the thawed executor 0 to finish what it held' })
        } finally {
          own.close()
        }
        expect(signed(await client.getNodeStatus({})) - signedBefore).toBe(BigInt(okCount))
        figure('faults', 'SIGSTOP of an executor: receipts for unfinished work', Number(signed(after) - signedBefore) - okCount, 'receipts')
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      expect(await outcome(client, HELLO)).toBe('ok')
    }, 120_000)
  })

  describe.each([
    ['kills', 'SIGKILL', 'died'],
    ['freezes', 'SIGSTOP', 'froze']
  ] as const)('a job that %s its executor', (_what, signal, verb) => {
    let node: TestNode
    let client: Client
    const hits: number[] = []
    let watching = true
    let watcher: Promise<void> | undefined
    beforeAll(async () => {
      node = await startTestNode({ executors: 3 })
      client = createGrpcClient(NodeService, node.grpc)
    })
    afterAll(async () => {
      watching = false
      await watcher
      for (const i of hits) node.procs.get(`executor-${i}`)?.child.kill('SIGCONT')
      client?.close()
      await node?.stop()
    })

    /** Plays the poison: sends `signal` to any executor the moment it reports a running job. */
    async function watch (): Promise<void> {
      const execs = [0, 1, 2].map((i) => ({ i, c: createGrpcClient(ExecutorService, `unix:${join(node.dir, 'run', 'executors', `executor-${i}.sock`)}`) }))
      try {
        while (watching) {
          await Promise.all(execs.map(async ({ i, c }) => {
            const proc = node.procs.get(`executor-${i}`)
            if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null || hits.includes(i)) return
            const s = await c.getStatus({}, { timeoutMs: 500 }).catch(() => undefined)
            if (s !== undefined && s.running > 0) {
              proc.child.kill(signal)
              hits.push(i)
            }
          }))
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      } finally {
        for (const { c } of execs) c.close()
      }
    }

    it(`${verb === 'died' ? 'kills' : 'freezes'} at most two executors, then its module is refused while other modules still run`, async () => {
      await until(client, (s) => [0, 1, 2].every((i) => executor(s, i)?.state === 'up'), 'three executors up')
      const signedBefore = signed(await client.getNodeStatus({}))
      watcher = watch()
      try {
        const poison = await outcome(client, LOOP, { limits: { timeout_ms: 20_000 } })
        // Run again once elsewhere, then given up: a typed error naming the cause.
        expect(poison).toBe('error:executor_died')
        expect(hits.length).toBeLessThanOrEqual(2)
        const hitByFirst = hits.length
        // The same module again: refused before any executor sees it.
        expect(await outcome(client, LOOP, { limits: { timeout_ms: 20_000 } })).toBe('error:module_quarantined')
        watching = false
        await watcher
        expect(hits.length).toBe(hitByFirst)
        figure('faults', `poison module (its executor ${verb}), 3 executors: executors lost (job retried at most once)`, hits.length, 'executors')
        // The executor left standing still serves everything else.
        const res = await client.submitJob({ manifestJson: manifest(HELLO, { args: ['still here'] }), module: HELLO })
        expect(dec.decode(res.stdout)).toBe('ereh llits\n')
        expect(signed(await client.getNodeStatus({})) - signedBefore).toBe(1n)
      } finally {
        watching = false
        await watcher
        for (const i of hits) node.procs.get(`executor-${i}`)?.child.kill('SIGCONT')
      }
    }, 120_000)
  })

  describe('an executor killed with SIGKILL under load (pm2 restarts it)', () => {
    let node: Pm2Node
    let client: Client
    beforeAll(async () => {
      node = await startPm2Node({ executors: 2 }, 2)
      client = createGrpcClient(NodeService, node.grpc)
    })
    afterAll(async () => {
      client?.close()
      await node?.stop()
    })

    it('gives every job a result or a typed error, signs only finished work, and serves on the restarted executor', async () => {
      const before = await until(client, (s) => [0, 1].every((i) => executor(s, i)?.state === 'up'), 'both executors up')
      const victim = executor(before, 0)!.process!.pid
      const signedBefore = signed(before)
      const results: string[] = []
      let killedAt = 0
      const worker = async (): Promise<void> => {
        while (results.length < 120) {
          const r = await outcome(client, BUSY)
          results.push(r)
          if (results.length === 30 && killedAt === 0) { killedAt = Date.now(); process.kill(victim, 'SIGKILL') }
        }
      }
      await Promise.all(Array.from({ length: 8 }, worker))
      expect(killedAt).toBeGreaterThan(0)
      const typed = new Set(['ok', 'error:executor_died', 'error:unavailable', 'error:queue_full'])
      expect(results.filter((r) => !typed.has(r))).toEqual([])
      const ok = results.filter((r) => r === 'ok').length
      const back = await until(client, (s) => executor(s, 0)?.state === 'up' && executor(s, 0)!.process!.pid !== victim, 'executor 0 restarted')
      const upAfterMs = Date.now() - killedAt
      expect(executor(back, 0)!.restarts).toBe(1)
      expect(signed(back) - signedBefore).toBe(BigInt(ok))
      figure('load', 'SIGKILL of 1 of 2 executors under load (8 jobs at once, ~120 jobs): ok / typed errors / lost', `${ok} / ${results.length - ok} / 0`, 'jobs')
      figure('faults', 'SIGKILL of an executor under load: receipts for unfinished work', Number(signed(back) - signedBefore) - ok, 'receipts')
      figure('faults', 'SIGKILL of an executor under load: time until it answers again (pm2 restart)', upAfterMs, 'ms')
      // The restarted executor takes jobs again (its count as discovery polls it, each second).
      const later: string[] = []
      await waitFor(async () => {
        later.push(await outcome(client, BUSY))
        return executor(await client.getNodeStatus({}), 0)!.completed > 0n
      }, { what: 'a job completed on the restarted executor 0', intervalMs: 200 })
      expect(later.filter((r) => r !== 'ok')).toEqual([])
    }, 180_000)
  })
})
