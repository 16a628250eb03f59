/**
 * `phase doctor` as operators run it: the CLI against real nodes on loopback. Two nodes, the
 * second bootstrapped from the first plus one bootstrap address where nobody listens; the report
 * validates against its schema, names what is wrong, and the exit code says so.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { chmod, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { DOCTOR_EXIT } from '../../cli/src/doctor.ts'

const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }
/** A bootstrap entry nobody answers: a port of the discard range on loopback, with a valid PeerId. */
const DEAD_BOOTSTRAP = '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWSnpBy4Hkmb6THNJ7ao5ShQAH1wxs2Rbk5iKdPkgNtfcx'

async function phase (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(join(ROOT, 'bin/phase'), args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

describe('phase doctor', () => {
  let a: TestNode
  let b: TestNode
  let validate: ReturnType<Ajv2020['compile']>

  beforeAll(async () => {
    const ajv = new Ajv2020({ allErrors: true, strict: true })
    ajv.addFormat('date-time', { validate: (s: string) => !Number.isNaN(Date.parse(s)) })
    validate = ajv.compile(JSON.parse(await readFile(join(ROOT, 'schemas/doctor-report.schema.json'), 'utf8')))
    a = await startTestNode({ executors: 1, config: { p2p: P2P } })
    b = await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [a.p2p.find((x) => x.includes('/quic'))!, DEAD_BOOTSTRAP] } } })
  }, 120_000)

  afterAll(async () => {
    await Promise.allSettled([b?.stop(), a?.stop()])
  }, 60_000)

  it('reports a schema-valid document whose status is the worst of its checks (--json)', async () => {
    const r = await phase(['doctor', '--json', '--api', b.grpc])
    expect(r.stderr).toBe('')
    const report = JSON.parse(r.stdout) as { status: 'ok' | 'warn' | 'fail', checks: Array<{ status: string }> }
    expect(validate(report)).toBe(true)
    const statuses = report.checks.map((c) => c.status)
    expect(report.status).toBe(statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'ok')
    expect(r.code).toBe(DOCTOR_EXIT[report.status])
  }, 60_000)

  it('names the unreachable bootstrap peer and the reachable one', async () => {
    const r = await phase(['doctor', '--json', '--api', b.grpc])
    const report = JSON.parse(r.stdout) as { network: { bootstrap: Array<{ address: string, reachable: boolean, connected: boolean, error: string | null }> }, checks: Array<{ name: string, status: string, message: string }> }
    const dead = report.network.bootstrap.find((x) => x.address === DEAD_BOOTSTRAP)!
    expect(dead.reachable).toBe(false)
    expect(dead.error).not.toBeNull()
    expect(report.network.bootstrap.filter((x) => x.connected)).toHaveLength(1)
    const check = report.checks.find((c) => c.name === 'bootstrap')!
    expect(check.status).toBe('warn')
    expect(check.message).toContain(DEAD_BOOTSTRAP)
  }, 60_000)

  it('compares clocks with connected peers over /phase/time/1.0.0 (same machine: skew near zero)', async () => {
    const r = await phase(['doctor', '--json', '--api', a.grpc])
    const report = JSON.parse(r.stdout) as { network: { peers_connected: number, dht_routing_table_size: number, clock: { peers_asked: number, peers_answered: number, max_abs_skew_ms: number } } }
    expect(report.network.peers_connected).toBeGreaterThanOrEqual(1)
    expect(report.network.clock.peers_answered).toBe(report.network.clock.peers_asked)
    expect(report.network.clock.peers_answered).toBeGreaterThanOrEqual(1)
    // One clock, two processes: what differs is the estimate's error (half a round trip).
    expect(report.network.clock.max_abs_skew_ms).toBeLessThan(1000)
  }, 60_000)

  it('fails (exit 2) when the receipt key can be read by other users, and says which file', async () => {
    const key = join(a.dir, 'state', 'receipt-key.json')
    await chmod(key, 0o644)
    try {
      const r = await phase(['doctor', '--api', a.grpc])
      expect(r.code).toBe(DOCTOR_EXIT.fail)
      expect(r.stdout).toMatch(/fail\s+files\.receipt_key\s+.*receipt-key\.json has mode 0644/)
    } finally {
      await chmod(key, 0o600)
    }
  }, 60_000)

  it('prints readable text by default: the checks, then the network facts', async () => {
    const r = await phase(['doctor', '--api', a.grpc])
    expect(r.stdout).toMatch(/^phase doctor: (OK|WARN|FAIL) {2}\(node 12D3Koo/)
    expect(r.stdout).toMatch(/\n {2}listen {9}\/ip4\/127\.0\.0\.1\//)
    expect(r.stdout).toMatch(/\n {2}clock {10}median skew -?\d+ ms/)
  }, 60_000)

  it('answers GET /v1/doctor with the same document', async () => {
    const res = await fetch(`http://${a.http}/v1/doctor`)
    expect(res.status).toBe(200)
    expect(validate(await res.json())).toBe(true)
  }, 60_000)

  it('exits 69 when no node answers', async () => {
    const r = await phase(['doctor', '--api', `unix:${join(a.dir, 'nobody.sock')}`])
    expect(r.code).toBe(69)
  }, 60_000)
})
