/**
 * Faults of the node's own processes under a steady load (a real node under pm2, as operators
 * run it): the signer killed with SIGKILL and frozen with SIGSTOP, discovery killed and frozen.
 * Every submitted job ends as a verified receipt or a typed error (0 lost silently), no result
 * is ever presented without a receipt that verifies for that very job and output, pm2 brings a
 * killed process back, and the time until jobs are served again is recorded.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { NodeService, type GetNodeStatusResponse } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { startPm2Node, type Pm2Node } from '../helpers/pm2-node.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'
import { SteadyLoad, summarize, typedText } from './steady-load.ts'

const HELLO = new Uint8Array(await readFile(`${ROOT}/examples/hello/hello.wasm`))
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

let node: Pm2Node
let admin: GrpcClient<typeof NodeService>
let load: SteadyLoad
let key: string
beforeAll(async () => {
  node = await startPm2Node({ executors: 1 }, 1)
  admin = createGrpcClient(NodeService, node.grpc, { timeoutMs: 5000 })
  key = (await admin.getNodeInfo({})).receiptPublicKey
  await admin.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: (await import('../../services/core/protocol/src/hash-node.ts')).contentHash(HELLO), nonce: 'ab'.repeat(16) })), module: HELLO })
  load = new SteadyLoad(node.grpc, key, HELLO, 4)
  load.start()
  await waitFor(() => load.outcomes.some((o) => o.ok), { what: 'the steady load to get a first verified result' })
}, 90_000)
afterAll(async () => {
  await load?.stop()
  admin?.close()
  await node?.stop()
})

async function pidOf (name: string): Promise<number | undefined> {
  try {
    const s: GetNodeStatusResponse = await admin.getNodeStatus({})
    return s.processes.find((p) => p.name === name && p.state === 'up')?.process?.pid
  } catch {
    return undefined
  }
}

/** Polls until `name` is up with a pid other than `old`. */
async function restarted (name: string, old: number): Promise<number> {
  return await waitFor(async () => { const pid = await pidOf(name); return pid !== old && pid }, {
    what: `pm2 to restart ${name} (pid ${old})`,
    intervalMs: 200,
    detail: () => node.lines.slice(-20).join('\n')
  })
}

/** Stops a process for `ms` (the point of the test: a freeze of that length), always resumes it. */
async function freeze (pid: number, ms: number): Promise<void> {
  process.kill(pid, 'SIGSTOP')
  try {
    await sleep(ms)
  } finally {
    process.kill(pid, 'SIGCONT')
  }
}

/** Figures and the common assertions for one fault window [t0, t1). */
function report (label: string, t0: number, t1: number, servedMs: number | undefined): void {
  const s = summarize(load.between(t0, t1))
  figure('faults', `${label}: time until served again`, servedMs ?? 'never', 'ms')
  figure('faults', `${label}: jobs ok (verified) / typed errors`, `${s.ok} / ${[...s.typed.values()].reduce((a, b) => a + b, 0)}`, typedText(s.typed))
  figure('faults', `${label}: lost silently / false results`, `${s.untyped} / ${s.falseResults}`, s.untyped + s.falseResults === 0 ? 'pass' : 'FAIL')
  expect(servedMs).toBeDefined()
  expect(s.untyped).toBe(0)
  expect(s.falseResults).toBe(0)
}

describe('node processes failing under load', () => {
  it('serves jobs steadily before any fault', async () => {
    const s = summarize(load.between(0))
    expect(s.ok).toBeGreaterThan(0)
    expect(s.untyped + s.falseResults).toBe(0)
  })

  it('answers typed errors, never an unsigned result, while the signer is killed (SIGKILL), and serves again once pm2 restarts it', async () => {
    const pid = (await pidOf('signer'))!
    const t0 = Date.now()
    process.kill(pid, 'SIGKILL')
    const fresh = await restarted('signer', pid)
    expect(fresh).not.toBe(pid)
    const served = await load.waitServedAfter(t0)
    const t1 = Date.now()
    await load.settled(t1)
    report('signer kill -9', t0, t1, served)
    // The restarted signer loaded the same key: receipts still verify against the pinned one.
    expect((await admin.getNodeInfo({})).receiptPublicKey).toBe(key)
  }, 90_000)

  it('answers typed errors or delayed results while the signer is frozen (SIGSTOP 3 s), and serves again after SIGCONT', async () => {
    const pid = (await pidOf('signer'))!
    const t0 = Date.now()
    await freeze(pid, 3000)
    const t1 = Date.now()
    const served = await load.waitServedAfter(t1)
    const t2 = Date.now()
    await load.settled(t2)
    report('signer SIGSTOP 3 s (after SIGCONT)', t0, t2, served)
    const during = load.between(t0, t1)
    // Frozen, it signed nothing: no job started in the window came back verified before SIGCONT.
    expect(during.filter((o) => o.ok && o.end < t1 - 50)).toEqual([])
    expect(await pidOf('signer')).toBe(pid)
  }, 90_000)

  it('gives clients typed connection errors while discovery is killed (SIGKILL), and serves again once pm2 restarts it', async () => {
    const pid = (await pidOf('discovery'))!
    const t0 = Date.now()
    process.kill(pid, 'SIGKILL')
    // Waited for before any assertion, so that a failed one leaves discovery up for what follows.
    const fresh = await restarted('discovery', pid)
    expect(fresh).not.toBe(pid)
    const served = await load.waitServedAfter(t0)
    const t1 = Date.now()
    await load.settled(t1)
    report('discovery kill -9', t0, t1, served)
  }, 90_000)

  it('delays or refuses with typed errors while discovery is frozen (SIGSTOP 3 s), and serves again after SIGCONT', async () => {
    const pid = (await pidOf('discovery'))!
    const t0 = Date.now()
    await freeze(pid, 3000)
    const t1 = Date.now()
    const served = await load.waitServedAfter(t1)
    const t2 = Date.now()
    await load.settled(t2)
    report('discovery SIGSTOP 3 s (after SIGCONT)', t0, t2, served)
    expect(await pidOf('discovery')).toBe(pid)
  }, 90_000)

  it('lost no job silently over the whole run', async () => {
    // The load keeps running (afterAll stops it): count every submission that has ended so far.
    const t = Date.now()
    await load.settled(t)
    const s = summarize(load.between(0, t))
    figure('faults', 'process faults, whole run: jobs ok (verified) / typed errors / lost or false', `${s.ok} / ${[...s.typed.values()].reduce((a, b) => a + b, 0)} / ${s.untyped + s.falseResults}`, typedText(s.typed))
    expect(s.untyped).toBe(0)
    expect(s.falseResults).toBe(0)
  }, 60_000)
})
