/**
 * Operating a running node: executors scaled 2 → 4 → 2 (and back to the config's count, as
 * `systemctl reload plasmd` does) while the signer and discovery keep their pids, jobs spread
 * over the new executors, a killed executor is restarted and counted, and the Prometheus
 * endpoint and `phase node status` report all of it (`plasmd scale`).
 */
import { describe, it, expect, afterAll, beforeAll } from '@jest/globals'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService, type GetNodeStatusResponse } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { compileWat } from '../helpers/wat.ts'
import { phaseCli, plasmdCli, startPm2Node, type Pm2Node } from '../helpers/pm2-node.ts'

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
  const deadline = Date.now() + 20_000
  let last = await status()
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last.processes.map((p) => [p.name, p.index, p.state, p.process?.pid, p.restarts]))}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    last = await status()
  }
  return last
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

describe('a running node, operated', () => {
  it('scales executors 2 → 4 at run time: jobs spread over all 4, signer and discovery keep their pids', async () => {
    const before = await until((s) => executors(s).length === 2 && executors(s).every((e) => e.state === 'up'), '2 executors up')
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

    expect(await submit(true)).toBe('ok')
    const statuses = await Promise.all(Array.from({ length: 64 }, async () => await submit(false)))
    expect(statuses.every((s) => s === 'ok')).toBe(true)

    const after = await until((s) => executors(s).length === 4 && executors(s).every((e) => e.completed > 0n), 'jobs on all 4 executors')
    expect(executors(after).map((e) => e.index)).toEqual([0, 1, 2, 3])
    expect(pidOf(after, 'signer')).toBe(signerPid)
    expect(pidOf(after, 'discovery')).toBe(discoveryPid)
    expect(executors(after).slice(0, 2).map((e) => e.process?.pid)).toEqual(firstPids)
    expect(after.jobsByStatus.ok).toBe(65n)

    const text = await metrics()
    expect(metric(text, 'phase_jobs_total{status="ok"}')).toBe(65)
    expect(metric(text, 'phase_executors{state="up"}')).toBe(4)
    expect(metric(text, 'phase_job_duration_seconds_count{status="ok"}')).toBe(65)
    expect(metric(text, 'phase_job_execution_seconds_count{status="ok"}')).toBe(65)
    expect(metric(text, 'phase_queue_depth')).toBe(0)
    expect(metric(text, 'phase_jobs_in_flight')).toBe(0)
    expect(text).toMatch(/^phase_build_info\{version="0\.1\.0",node_version="24\.[0-9.]+"\} 1$/m)
    expect(text).toContain('process_resident_memory_bytes')

    const shown = await phaseCli(['node', 'status'], node.env)
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/^executor 3 +up +[0-9]+ /m)
    expect(shown.stdout).toContain('finished: ok 65')
  })

  it('counts an executor killed and restarted by pm2, and routes around it meanwhile', async () => {
    const s = await status()
    const victim = executors(s).find((e) => e.index === 3)!
    process.kill(victim.process!.pid, 'SIGKILL')
    // Jobs keep succeeding on the other executors while pm2 brings it back.
    const during = await Promise.all(Array.from({ length: 16 }, async () => await submit(false)))
    expect(during.every((x) => x === 'ok')).toBe(true)
    const after = await until((x) => executors(x).find((e) => e.index === 3)?.restarts === 1 && executors(x).every((e) => e.state === 'up'), 'executor 3 restarted')
    expect(executors(after).find((e) => e.index === 3)!.process!.pid).not.toBe(victim.process!.pid)
    expect(metric(await metrics(), 'phase_executor_restarts_total{executor="3"}')).toBe(1)
  })

  it('scales down to 2, then back to the config\'s count the way `systemctl reload plasmd` does', async () => {
    const before = await status()
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
    await writeFile(join(node.dir, 'plasmd.json'), JSON.stringify({ executors: 3, api: { http: { port: 0 } }, p2p: { enabled: false } }))
    const reload = await plasmdCli(['scale'], node.env)
    expect(reload.code).toBe(0)
    expect(reload.stdout).toContain('executors: 2 -> 3')
    expect(executors(await status()).length).toBe(3)
    expect(metric(await metrics(), 'phase_executors{state="up"}')).toBe(3)
    // A bad edit is refused before anything changes.
    await writeFile(join(node.dir, 'plasmd.json'), JSON.stringify({ executors: 0 }))
    const bad = await plasmdCli(['scale'], node.env)
    expect(bad.code).toBe(78)
    expect(bad.stderr).toContain('/executors must be >= 1')
    expect(executors(await status()).length).toBe(3)
    const usage = await plasmdCli(['scale', '0'], node.env)
    expect(usage.code).toBe(64)
  })
})
