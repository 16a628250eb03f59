/**
 * FindExecutors on every face: gRPC had it; `GET /v1/executors` and `phase executors` give the
 * same answer. Two real nodes on loopback, the second bootstrapped from the first.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { executorQuery } from '../../services/discovery/src/http-api.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { until } from '../helpers/netns.ts'

const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }

async function phase (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(join(ROOT, 'bin/phase'), args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

describe('FindExecutors over HTTP and the CLI', () => {
  let a: TestNode
  let b: TestNode
  let rpc: GrpcClient<typeof NodeService>
  let idA = ''

  beforeAll(async () => {
    a = await startTestNode({ executors: 1, config: { p2p: P2P } })
    b = await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [a.p2p.find((x) => x.includes('/quic'))!] } } })
    rpc = createGrpcClient(NodeService, b.grpc)
    idA = (await createGrpcClient(NodeService, a.grpc).getNodeInfo({})).peerId
    // A's provider records reach the DHT once A has a peer to put them on.
    await until('b to find a through the DHT', 30_000, async () => (await rpc.findExecutors({})).executors.some((e) => e.peerId === idA) ? true : undefined)
  }, 120_000)

  afterAll(async () => {
    rpc?.close()
    await Promise.allSettled([b?.stop(), a?.stop()])
  }, 60_000)

  it('answers GET /v1/executors with what gRPC answers, in snake_case', async () => {
    const res = await fetch(`http://${b.http}/v1/executors?limit=5`)
    expect(res.status).toBe(200)
    const body = await res.json() as { executors: Array<Record<string, unknown>>, lookup_ms: number }
    const found = body.executors.find((e) => e.peer_id === idA)!
    const grpc = (await rpc.findExecutors({ limit: 5 })).executors.find((e) => e.peerId === idA)!
    expect(found).toEqual({ peer_id: grpc.peerId, receipt_public_key: grpc.receiptPublicKey, runtimes: grpc.runtimes, arch: grpc.arch, cores: grpc.cores, max_memory_mb: grpc.maxMemoryMb, queue_depth: expect.any(Number) })
    expect(body.lookup_ms).toBeGreaterThanOrEqual(0)
  }, 60_000)

  it('filters: a runtime nobody offers finds nothing', async () => {
    const res = await fetch(`http://${b.http}/v1/executors?runtime=no-such-runtime`)
    expect(res.status).toBe(200)
    expect((await res.json() as { executors: unknown[] }).executors).toEqual([])
  }, 60_000)

  it('refuses a bad query with 400 and the parameter named', async () => {
    for (const q of ['limit=0', 'limit=abc', 'min_cores=-1', 'colour=red', 'arch=a&arch=b', 'runtime=%3Cscript%3E']) {
      const res = await fetch(`http://${b.http}/v1/executors?${q}`)
      expect(res.status).toBe(400)
      const body = await res.json() as { error: { code: string, message: string } }
      expect(body.error.code).toBe('invalid_argument')
    }
  }, 60_000)

  it('lists them with phase executors (--json the same fields)', async () => {
    const text = await phase(['executors', '--api', b.grpc])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(idA)
    const json = await phase(['executors', '--json', '--limit', '3', '--api', b.grpc])
    expect(json.code).toBe(0)
    const body = JSON.parse(json.stdout) as { executors: Array<{ peer_id: string, max_memory_mb: number }> }
    expect(body.executors.map((e) => e.peer_id)).toContain(idA)
  }, 60_000)

  it('exits 64 on a bad option value', async () => {
    const r = await phase(['executors', '--limit', 'lots', '--api', b.grpc])
    expect(r.code).toBe(64)
    expect(r.stderr).toMatch(/--limit/)
  }, 60_000)
})

describe('executorQuery', () => {
  it('reads every filter and defaults the limit', () => {
    expect(executorQuery(new URLSearchParams('runtime=v8&arch=x64&min_memory_mb=64&min_cores=2'))).toEqual({ requirements: { runtime: 'v8', arch: 'x64', min_memory_mb: 64, min_cores: 2 }, limit: 20 })
    expect(executorQuery(new URLSearchParams(''))).toEqual({ requirements: {}, limit: 20 })
  })

  it('refuses limits outside 1..200', () => {
    expect(() => executorQuery(new URLSearchParams('limit=201'))).toThrow(expect.objectContaining({ code: 'invalid_argument' }))
    expect(executorQuery(new URLSearchParams('limit=200')).limit).toBe(200)
  })
})
