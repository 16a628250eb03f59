/**
 * Operating a running node: executors scaled 2 → 4 → 2 (and back to the config's count, as
 * `systemctl reload plasmd` does) while the signer and discovery keep their pids, jobs spread
 * over the new executors, a killed executor is restarted and counted, and the Prometheus
 * endpoint and `phase node status` report all of it (`plasmd scale`).
 */
import { describe, it, expect, afterAll, beforeAll, beforeEach } from '@jest/globals'
import { readFile, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService, type GetNodeStatusResponse } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { compileWat } from '../helpers/wat.ts'
import { phaseCli, plasmdCli, startPm2Node, type Pm2Node } from '../helpers/pm2-node.ts'
import { waitFor } from '../helpers/wait-for.ts'

// A few milliseconds of work, so that concurrent jobs overlap and spread over the executors.
const BUSY = `(module (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (local.set $i (i32.const 3000000))
    (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))))`

let node: Pm2Node
let client: GrpcClient<typeof NodeService>
let busy: Buffer
afterAll(async () => {
  client?.close()
  await node?.stop()
})
beforeAll(async () => {
  busy = await compileWat(BUSY)
  node = await startPm2Node({ executors: 2 }, 2)
  client = createGrpcClient(NodeService, node.grpc)
})

const enc = new TextEncoder()
async function submit (withModule: boolean): Promise<string> {
  const manifest = { version: 1, module_hash: contentHash(busy), nonce: randomBytes(16).toString('hex') }
  const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest)), module: withModule ? busy : undefined })
  return res.status
}

async function status (): Promise<GetNodeStatusResponse> { return await client.getNodeStatus({}) }

/** Polls the node status until `ok` holds (discovery looks at its executors every second). */
async function until (ok: (s: GetNodeStatusResponse) => boolean, what: string): Promise<GetNodeStatusResponse> {
  let last: GetNodeStatusResponse | undefined
  return await waitFor(async () => { last = await status(); return ok(last) && last }, {
    what,
    intervalMs: 200,
    detail: () => `last status: ${JSON.stringify(last?.processes.map((p) => [p.name, p.index, p.state, p.process?.pid, p.restarts]))}`
  })
}

/** Runs `phase node scale n` (a no-op when it already runs n) and waits until all n are up. */
async function scaleTo (n: number): Promise<GetNodeStatusResponse> {
  const r = await plasmdCli(['scale', String(n)], node.env)
  expect(r).toMatchObject({ code: 0, stderr: '' })
  return await until((s) => executors(s).length === n && executors(s).every((e) => e.state === 'up'), `${n} executors up`)
}

const executors = (s: GetNodeStatusResponse): GetNodeStatusResponse['processes'] => s.processes.filter((p) => p.name === 'executor')
const pidOf = (s: GetNodeStatusResponse, name: string): number | undefined => s.processes.find((p) => p.name === name)?.process?.pid

async function metrics (): Promise<string> {
  const res = await fetch(`http://${node.http}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/plain')
  return await res.text()
}

function metric (text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

const okJobs = (s: GetNodeStatusResponse): bigint => s.jobsByStatus.ok ?? 0n

describe('a running node, operated', () => {
  // Each test sets up the executor count it starts from; the module is uploaded before each,
  // so that the tests' hash-only submissions do not rely on an earlier test.
  beforeEach(async () => { expect(await submit(true)).toBe('ok') })

  it('scales executors 2 → 4 at run time: jobs spread over all 4, signer and discovery keep their pids', async () => {
    const before = await scaleTo(2)
    const textBefore = await metrics()
    const completedBefore = new Map(executors(before).map((e) => [e.index, e.completed]))
    const signerPid = pidOf(before, 'signer')!
    const discoveryPid = pidOf(before, 'discovery')!
    expect(signerPid).toBeGreaterThan(0)
    expect(discoveryPid).toBeGreaterThan(0)
    const firstPids = executors(before).map((e) => e.process?.pid)

    const scaled = await plasmdCli(['scale', '4'], node.env)
    expect(scaled.stderr).toBe('')
    expect(scaled.code).toBe(0)
    expect(scaled.stdout).toContain('executors: 2 -> 4')
    expect(scaled.stdout).toContain('discovery routes jobs to 4 executors')

    const statuses = await Promise.all(Array.from({ length: 64 }, async () => await submit(false)))
    expect(statuses.every((s) => s === 'ok')).toBe(true)

    const ranJobs = (s: GetNodeStatusResponse): boolean => executors(s).every((e) => e.completed > (completedBefore.get(e.index) ?? 0n))
    // The queue depth is the executors' as discovery last polled them (each second): wait for a
    // poll after the burst rather than read one taken during it.
    const after = await until((s) => executors(s).length === 4 && ranJobs(s) && s.queueDepth === 0, 'jobs on all 4 executors and their queues polled empty')
    expect(executors(after).map((e) => e.index)).toEqual([0, 1, 2, 3])
    expect(pidOf(after, 'signer')).toBe(signerPid)
    expect(pidOf(after, 'discovery')).toBe(discoveryPid)
    expect(executors(after).slice(0, 2).map((e) => e.process?.pid)).toEqual(firstPids)
    expect(okJobs(after) - okJobs(before)).toBe(64n)
    // Every process loaded the malloc addon its idle trim calls (services/core/process/native):
    // without it, what glibc holds free after a burst stays resident.
    for (const pid of [signerPid, discoveryPid, ...executors(after).map((e) => e.process!.pid)]) {
      expect({ pid, addon: readFileSync(`/proc/${pid}/maps`, 'utf8').includes('/phase_malloc.node') }).toEqual({ pid, addon: true })
    }

    const text = await metrics()
    const grew = (name: string): number => metric(text, name)! - (metric(textBefore, name) ?? 0)
    expect(grew('phase_jobs_total{status="ok"}')).toBe(64)
    expect(metric(text, 'phase_executors{state="up"}')).toBe(4)
    expect(grew('phase_job_duration_seconds_count{status="ok"}')).toBe(64)
    expect(grew('phase_job_execution_seconds_count{status="ok"}')).toBe(64)
    expect(metric(text, 'phase_queue_depth')).toBe(0)
    expect(metric(text, 'phase_jobs_in_flight')).toBe(0)
    expect(text).toMatch(/^phase_build_info\{version="0\.1\.0",node_version="24\.[0-9.]+"\} 1$/m)
    expect(text).toContain('process_resident_memory_bytes')

    const shown = await phaseCli(['node', 'status'], node.env)
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/^executor 3 +up +[0-9]+ /m)
    expect(shown.stdout).toContain(`finished: ok ${okJobs(after)}`)
  }, 120_000)

  it('counts an executor killed and restarted by pm2, and routes around it meanwhile', async () => {
    const s = await scaleTo(4)
    const victim = executors(s).find((e) => e.index === 3)!
    const restartsBefore = metric(await metrics(), 'phase_executor_restarts_total{executor="3"}') ?? 0
    process.kill(victim.process!.pid, 'SIGKILL')
    let during: string[]
    let after: GetNodeStatusResponse
    try {
      // Jobs keep succeeding on the other executors while pm2 brings it back.
      during = await Promise.all(Array.from({ length: 16 }, async () => await submit(false)))
    } finally {
      // Waited for even when a job failed, so that no test finds an executor down.
      after = await until((x) => executors(x).find((e) => e.index === 3)?.restarts === victim.restarts + 1 && executors(x).every((e) => e.state === 'up'), 'executor 3 restarted')
    }
    expect(during.every((x) => x === 'ok')).toBe(true)
    expect(executors(after).find((e) => e.index === 3)!.process!.pid).not.toBe(victim.process!.pid)
    expect(metric(await metrics(), 'phase_executor_restarts_total{executor="3"}')).toBe(restartsBefore + 1)
  }, 120_000)

  it('scales down to 2, then back to the config\'s count the way `systemctl reload plasmd` does', async () => {
    const before = await scaleTo(4)
    const config = join(node.dir, 'plasmd.json')
    const original = await readFile(config)
    try {
      const down = await plasmdCli(['scale', '2'], node.env)
      expect(down.code).toBe(0)
      expect(down.stdout).toContain('executors: 4 -> 2')
      const after = await until((s) => executors(s).length === 2, '2 executors')
      // The highest indices retire; the warm low ones stay.
      expect(executors(after).map((e) => e.index)).toEqual([0, 1])
      expect(pidOf(after, 'signer')).toBe(pidOf(before, 'signer'))
      expect(pidOf(after, 'discovery')).toBe(pidOf(before, 'discovery'))
      expect(await submit(false)).toBe('ok')

      // The operator edits the config; reload applies it (no N: the config's value).
      await writeFile(config, JSON.stringify({ executors: 3, api: { http: { port: 0 } }, p2p: { enabled: false } }))
      const reload = await plasmdCli(['scale'], node.env)
      expect(reload.code).toBe(0)
      expect(reload.stdout).toContain('executors: 2 -> 3')
      expect(executors(await status()).length).toBe(3)
      expect(metric(await metrics(), 'phase_executors{state="up"}')).toBe(3)
      // A bad edit is refused before anything changes.
      await writeFile(config, JSON.stringify({ executors: 0 }))
      const bad = await plasmdCli(['scale'], node.env)
      expect(bad.code).toBe(78)
      expect(bad.stderr).toContain('/executors must be >= 1')
      expect(executors(await status()).length).toBe(3)
      const usage = await plasmdCli(['scale', '0'], node.env)
      expect(usage.code).toBe(64)
    } finally {
      // The config the node started with, for whatever runs next.
      await writeFile(config, original)
    }
  }, 120_000)
})
