/**
 * Load: 10,000 jobs from 50 concurrent TypeScript SDK clients (each its own channel, each
 * verifying every receipt against the node's pinned key, the job it sent and the output it got)
 * on a real node under pm2 with 2 executors. 0 lost; jobs/s; RSS and PSS of every process
 * (pm2, signer, executors, discovery) before, at the peak (sampled from /proc/PID/smaps_rollup
 * during the run) and after. `LOAD_JOBS` / `LOAD_CLIENTS` change the size.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { PhaseClient, manifest } from '../../sdk/ts/src/index.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { startPm2Node, type Pm2Node } from '../helpers/pm2-node.ts'
import { memoryOf, mib, sampler, type Memory } from '../helpers/proc-memory.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'

const JOBS = Number(process.env.LOAD_JOBS ?? 10_000)
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 50)
const HELLO = new Uint8Array(await readFile(`${ROOT}/examples/hello/hello.wasm`))
const HASH = contentHash(HELLO)
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

let node: Pm2Node
let admin: GrpcClient<typeof NodeService>
let key: string
/** Process label → pid. */
const pids = new Map<string, number>()
beforeAll(async () => {
  node = await startPm2Node({ executors: 2 }, 2)
  admin = createGrpcClient(NodeService, node.grpc, { timeoutMs: 5000 })
  key = (await admin.getNodeInfo({})).receiptPublicKey
  pids.set('pm2', node.child.pid!)
  // Every process answers with its pid once it is up (executors report 'starting' until then).
  const processes = await waitFor(async () => {
    const all = (await admin.getNodeStatus({})).processes
    return all.every((p) => p.process !== undefined) && all
  }, { what: 'every process of the node to report its pid', timeoutMs: 60_000, intervalMs: 200 })
  for (const p of processes) pids.set(p.name === 'executor' ? `executor ${p.index}` : p.name, p.process!.pid)
}, 90_000)
afterAll(async () => {
  admin?.close()
  await node?.stop()
})

function memory (): Map<string, Memory> {
  return new Map([...pids].map(([name, pid]) => [name, memoryOf(pid) ?? { rss: NaN, pss: NaN, pssAnon: NaN, pssFile: NaN }]))
}

describe(`${JOBS} jobs from ${CLIENTS} SDK clients`, () => {
  it('verifies every receipt, loses no job, and reports jobs/s and memory per process before / peak / after', async () => {
    const clients = Array.from({ length: CLIENTS }, () => new PhaseClient({ address: node.grpc, timeoutMs: 60_000 }))
    try {
      // Warm-up: the module cached, each client's channel connected, the first JIT done.
      await clients[0]!.submit(manifest(HELLO).args('warm'), HELLO, { expectedKey: key })
      await Promise.all(clients.map(async (c, i) => await c.submit(manifest(HASH).args(`w${i}`), undefined, { expectedKey: key })))
      // Not synchronization: "before" is memory after a second of idle, comparable across runs.
      await sleep(1000)
      const before = memory()
      const sample = sampler(() => [...pids.values()])
      let verified = 0
      const errors = new Map<string, number>()
      const wrong: string[] = []
      const perClient = Math.ceil(JOBS / CLIENTS)
      const started = performance.now()
      await Promise.all(clients.map(async (client, c) => {
        for (let j = 0; j < perClient && c * perClient + j < JOBS; j++) {
          const word = `c${c}j${j}`
          try {
            const r = await client.submit(manifest(HASH).args(word), undefined, { expectedKey: key })
            const out = new TextDecoder().decode(r.stdout)
            if (r.verification.verified && r.status === 'ok' && out === `${[...word].reverse().join('')}\n`) verified++
            else wrong.push(`${word}: ${r.status} ${out} ${JSON.stringify(r.verification)}`)
          } catch (err) {
            const code = isPhaseError(err) ? err.code : `untyped ${(err as Error)?.message}`
            errors.set(code, (errors.get(code) ?? 0) + 1)
          }
        }
      }))
      const seconds = (performance.now() - started) / 1000
      sample.stop()
      // Not synchronization: "after" is memory after 2 s of idle (what an idle node gives back).
      await sleep(2000)
      const after = memory()
      const rate = JOBS / seconds
      figure('load', `${JOBS} jobs from ${CLIENTS} SDK clients: verified receipts`, verified, `of ${JOBS}`)
      figure('load', `${JOBS} jobs from ${CLIENTS} SDK clients: lost / errors / wrong results`, `${JOBS - verified - [...errors.values()].reduce((a, b) => a + b, 0) - wrong.length} / ${[...errors.values()].reduce((a, b) => a + b, 0)} / ${wrong.length}`, [...errors].map(([k, n]) => `${k} ${n}`).join(', ') || 'none')
      figure('load', `${JOBS} jobs from ${CLIENTS} SDK clients: throughput`, rate.toFixed(0), `jobs/s (${seconds.toFixed(1)} s, 2 executors, each receipt verified)`)
      let totalPss = { before: 0, peak: 0, after: 0 }
      for (const [name, pid] of pids) {
        const b = before.get(name)!
        const p = sample.peak.get(pid) ?? { rss: NaN, pss: NaN }
        const a = after.get(name)!
        totalPss = { before: totalPss.before + b.pss, peak: totalPss.peak + p.pss, after: totalPss.after + a.pss }
        figure('load', `RSS ${name} before / peak / after`, `${mib(b.rss)} / ${mib(p.rss)} / ${mib(a.rss)}`, 'MiB')
        figure('load', `PSS ${name} before / peak / after`, `${mib(b.pss)} / ${mib(p.pss)} / ${mib(a.pss)}`, 'MiB')
      }
      figure('load', 'PSS whole node (sum) before / peak / after', `${mib(totalPss.before)} / ${mib(totalPss.peak)} / ${mib(totalPss.after)}`, 'MiB (peaks of different moments summed)')
      expect(wrong.slice(0, 5)).toEqual([])
      expect([...errors]).toEqual([])
      expect(verified).toBe(JOBS)
      // Every process survived the run with its pid.
      for (const [name, pid] of pids) expect(`${name} ${memoryOf(pid) === undefined ? 'gone' : 'alive'}`).toBe(`${name} alive`)
    } finally {
      for (const c of clients) c.close()
    }
  }, 900_000)
})
