/**
 * An API token, when configured, is required on every public call: gRPC answers
 * UNAUTHENTICATED, HTTP answers 401 JSON, the CLI exits 77 — and the right token works.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/rpc/src/index.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'

const TOKEN = 'correct-horse-battery-staple'

describe('a node with an API token', () => {
  let node: TestNode
  beforeAll(async () => { node = await startTestNode({ executors: 1, config: { api: { http: { host: '127.0.0.1', port: 0 }, token: TOKEN } } }) })
  afterAll(async () => { await node?.stop() })

  it('refuses gRPC calls without the token and accepts them with it', async () => {
    const client = createGrpcClient(NodeService, node.grpc)
    try {
      await expect(client.getNodeInfo({})).rejects.toMatchObject({ code: 'unauthenticated' })
      await expect(client.getNodeInfo({}, { metadata: { authorization: 'Bearer wrong-token-wrong-token' } })).rejects.toMatchObject({ code: 'unauthenticated' })
      const info = await client.getNodeInfo({}, { metadata: { authorization: `Bearer ${TOKEN}` } })
      expect(info.receiptPublicKey).toMatch(/^[0-9a-f]{64}$/)
    } finally {
      client.close()
    }
  })

  it('answers HTTP without the token with 401 JSON, and serves it with the token', async () => {
    const denied = await fetch(`http://${node.http}/v1/node`)
    expect(denied.status).toBe(401)
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('unauthenticated')
    const ok = await fetch(`http://${node.http}/v1/node`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(ok.status).toBe(200)
    const health = await fetch(`http://${node.http}/healthz`)
    expect(health.status).toBe(200)
  })

  it('guards metrics and status with the token too, and counts refused jobs by code', async () => {
    for (const path of ['/metrics', '/v1/status']) {
      expect((await fetch(`http://${node.http}${path}`)).status).toBe(401)
    }
    const auth = { authorization: `Bearer ${TOKEN}` }
    const bad = await fetch(`http://${node.http}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ manifest: { version: 1 } }) })
    expect(bad.status).toBe(422)
    const metrics = await fetch(`http://${node.http}/metrics`, { headers: auth })
    expect(metrics.status).toBe(200)
    const text = await metrics.text()
    expect(text).toMatch(/^phase_job_errors_total\{code="invalid_manifest"\} 1$/m)
    expect(text).not.toContain(TOKEN)
    const status = await (await fetch(`http://${node.http}/v1/status`, { headers: auth })).json() as { processes: Array<{ name: string, state: string, pid: number }>, p2p_enabled: boolean }
    expect(status.processes.map((p) => p.name)).toEqual(['discovery', 'signer', 'executor'])
    expect(status.processes.every((p) => p.state === 'up' && p.pid > 0)).toBe(true)
    expect(status.p2p_enabled).toBe(false)
    const client = createGrpcClient(NodeService, node.grpc)
    try {
      await expect(client.getNodeStatus({})).rejects.toMatchObject({ code: 'unauthenticated' })
    } finally {
      client.close()
    }
  })

  it('makes the CLI exit 77 without the token and run with PHASE_API_TOKEN', async () => {
    const run = async (env: Record<string, string>): Promise<{ code: number, stdout: string }> => await new Promise((resolve) => {
      const child = execFile(join(ROOT, 'bin/phase'), ['run', join(ROOT, 'examples/hello/hello.wasm'), '--', 'token'], { env: { ...node.env, PHASE_API: node.grpc, ...env } },
        (err, stdout) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout }))
      child.stdin!.end()
    })
    expect((await run({})).code).toBe(77)
    expect(await run({ PHASE_API_TOKEN: TOKEN })).toEqual({ code: 0, stdout: 'nekot\n' })
  })

  it('makes the CLI read the token from --token-file or PHASE_API_TOKEN_FILE, so it never shows in ps', async () => {
    const file = join(node.dir, 'api-token')
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 })
    const run = async (args: string[], env: Record<string, string>): Promise<{ code: number, stdout: string }> => await new Promise((resolve) => {
      const child = execFile(join(ROOT, 'bin/phase'), ['run', ...args, join(ROOT, 'examples/hello/hello.wasm'), '--', 'file'], { env: { ...node.env, PHASE_API: node.grpc, ...env } },
        (err, stdout) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout }))
      child.stdin!.end()
    })
    expect(await run(['--token-file', file], {})).toEqual({ code: 0, stdout: 'elif\n' })
    expect(await run([], { PHASE_API_TOKEN_FILE: file })).toEqual({ code: 0, stdout: 'elif\n' })
    expect((await run(['--token-file', join(node.dir, 'missing')], {})).code).toBe(66)
  })
})
