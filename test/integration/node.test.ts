/**
 * The three real processes on temporary sockets: hello end to end through gRPC, HTTP and the
 * CLI, receipts verified with the node's key, bad inputs answered with typed errors, and faults
 * (signer down, executor killed mid-job) handled without a wrongly signed result.
 */
import { describe, it, expect, beforeAll, beforeEach, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { ExecutorService } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { SignerService } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceipt } from '../../services/core/protocol/src/crypto/verify.ts'
import { jobIdOf, parseManifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'
import { waitFor } from '../helpers/wait-for.ts'

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const HELLO_HASH = contentHash(HELLO)
const enc = new TextEncoder()
const dec = new TextDecoder()

function manifest (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { version: 1, module_hash: HELLO_HASH, nonce: randomBytes(16).toString('hex'), ...extra }
}

async function cli (node: TestNode, args: string[], input?: string): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const child = execFile(join(ROOT, 'bin/phase'), args, { env: { ...node.env, PHASE_API: node.grpc }, cwd: node.dir }, (err, stdout, stderr) => {
      resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr })
    })
    child.stdin!.end(input ?? '')
  })
}

describe('a node of three processes', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  let key: string
  let peerId: string

  beforeAll(async () => {
    node = await startTestNode({ executors: 2 })
    client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 1024 * 1024 * 1024 })
    const info = await client.getNodeInfo({})
    key = info.receiptPublicKey
    peerId = info.peerId
  })

  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  // Many tests send only the hello module's hash: each makes sure the node holds it, rather than
  // relying on an earlier test having uploaded it.
  beforeEach(async () => {
    if (!(await client.hasModule({ moduleHash: HELLO_HASH })).cached) {
      await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest())), module: HELLO })
    }
  })

  it('runs hello over gRPC and returns a receipt that verifies with the node key', async () => {
    const m = manifest({ args: ['Hello, World'] })
    const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module: HELLO })
    expect(res.status).toBe('ok')
    expect(res.exitCode).toBe(0n)
    expect(dec.decode(res.stdout)).toBe('dlroW ,olleH\n')
    const parsed = parseManifest(m)
    const { receipt, checks } = await verifyReceipt(res.receiptJson, {
      publicKey: key,
      peerId,
      job: { jobId: jobIdOf(parsed), nonce: parsed.nonce, moduleHash: HELLO_HASH },
      outputs: { stdout: res.stdout, stderr: res.stderr }
    })
    expect(receipt.job_id).toBe(res.jobId)
    expect(receipt.node.peer_id).toBe(peerId)
    expect(checks.length).toBeGreaterThanOrEqual(5)
  })

  it('runs a cached module when only its hash is sent', async () => {
    expect((await client.hasModule({ moduleHash: HELLO_HASH })).cached).toBe(true) // uploaded by beforeEach
    const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: ['abc'] }))) })
    expect(dec.decode(res.stdout)).toBe('cba\n')
  })

  it('spreads concurrent jobs over both executors', async () => {
    const completed = async (): Promise<number[]> => await Promise.all([0, 1].map(async (i) => {
      const status = createGrpcClient(ExecutorService, `unix:${join(node.dir, 'run', 'executors', `executor-${i}.sock`)}`)
      try { return Number((await status.getStatus({})).completedJobs) } finally { status.close() }
    }))
    const before = await completed()
    const results = await Promise.all(Array.from({ length: 40 }, async (_, i) =>
      await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: [`job ${i}`] }))) })))
    expect(results.every((r) => r.status === 'ok')).toBe(true)
    const after = await completed()
    const ran = after.map((n, i) => n - before[i]!)
    expect(ran[0]! + ran[1]!).toBe(40)
    expect(Math.min(...ran)).toBeGreaterThan(0)
  })

  it('accepts a seed v0.1 manifest and upgrades it', async () => {
    const v01 = { version: '0.1', module_hash: HELLO_HASH, cpu_cores: 1, memory_mb: 32, timeout_seconds: 5 }
    const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(v01)) })
    expect(res.status).toBe('ok')
    const upgraded = JSON.parse(dec.decode(res.manifestJson))
    expect(upgraded.version).toBe(1)
    expect(upgraded.limits).toEqual({ memory_mb: 32, timeout_ms: 5000 })
    expect(res.jobId).toBe(jobIdOf(parseManifest(upgraded)))
  })

  it('refuses a job id it already ran with replayed_job', async () => {
    const m = enc.encode(JSON.stringify(manifest({ args: ['once'] })))
    await client.submitJob({ manifestJson: m })
    await expect(client.submitJob({ manifestJson: m })).rejects.toMatchObject({ code: 'replayed_job' })
  })

  describe('bad input', () => {
    it.each([
      ['malformed JSON', enc.encode('{"version": 1,'), 'invalid_json'],
      ['an unknown field', enc.encode(JSON.stringify(manifest({ colour: 'red' }))), 'invalid_manifest'],
      ['a bad hash format', enc.encode(JSON.stringify(manifest({ module_hash: 'md5:abc' }))), 'invalid_manifest'],
      ['a negative limit', enc.encode(JSON.stringify(manifest({ limits: { timeout_ms: -1 } }))), 'invalid_manifest'],
      ['a limit above the cap', enc.encode(JSON.stringify(manifest({ limits: { memory_mb: 1000 } }))), 'limit_exceeded']
    ])('answers %s with a typed error', async (_name, bytes, code) => {
      await expect(client.submitJob({ manifestJson: bytes, module: HELLO })).rejects.toMatchObject({ code })
    })

    it('refuses module bytes that do not match the manifest hash with hash_mismatch', async () => {
      const other = new Uint8Array(HELLO)
      other[other.length - 1]! ^= 1
      const m = manifest({ module_hash: contentHash(randomBytes(8)) })
      await expect(client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module: other })).rejects.toMatchObject({ code: 'hash_mismatch' })
    })

    it('refuses bytes that are not WebAssembly with invalid_module', async () => {
      const junk = enc.encode('this is not wasm at all')
      const m = manifest({ module_hash: contentHash(junk) })
      await expect(client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module: junk })).rejects.toMatchObject({ code: 'invalid_module' })
    })

    it('refuses a module over the 64 MiB cap with module_too_large', async () => {
      const big = new Uint8Array(65 * 1024 * 1024)
      const m = manifest({ module_hash: contentHash(big) })
      await expect(client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module: big })).rejects.toMatchObject({ code: 'module_too_large' })
    })

    it('asks for the bytes with module_not_cached when only the hash of an unknown module is sent', async () => {
      const m = manifest({ module_hash: contentHash(randomBytes(16)) })
      await expect(client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)) })).rejects.toMatchObject({ code: 'module_not_cached' })
    })
  })

  describe('the HTTP gateway', () => {
    it('runs hello when the JSON body carries the module as base64', async () => {
      const res = await fetch(`http://${node.http}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ manifest: manifest({ args: ['Hello, World'] }), module: HELLO.toString('base64') })
      })
      expect(res.status).toBe(200)
      const body = await res.json() as Record<string, any>
      expect(body.stdout).toBe('dlroW ,olleH\n')
      await verifyReceipt(body.receipt_json, { publicKey: key, outputs: { stdout: Buffer.from(body.stdout_base64, 'base64') } })
    })

    it.each([
      ['malformed JSON', '{"manifest":', 400, 'invalid_json'],
      ['a schema violation', JSON.stringify({ manifest: { version: 1 } }), 422, 'invalid_manifest'],
      ['an unknown top-level field', JSON.stringify({ manifest: {}, extra: 1 }), 422, 'invalid_manifest']
    ])('answers %s with a 4xx JSON error', async (_name, body, status, code) => {
      const res = await fetch(`http://${node.http}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect(res.status).toBe(status)
      expect(((await res.json()) as any).error.code).toBe(code)
    })

    it('serves the same API on a unix socket', async () => {
      const { request } = await import('node:http')
      const body = await new Promise<string>((resolve, reject) => {
        request({ socketPath: join(node.dir, 'run', 'plasmd-http.sock'), path: '/v1/node' }, (res) => {
          let text = ''
          res.on('data', (d: Buffer) => { text += d.toString() })
          res.on('end', () => resolve(text))
        }).on('error', reject).end()
      })
      expect(JSON.parse(body).receipt_public_key).toBe(key)
    })

    it('answers an unknown path with 404 JSON', async () => {
      const res = await fetch(`http://${node.http}/v2/nothing`)
      expect(res.status).toBe(404)
      expect(((await res.json()) as any).error.code).toBe('not_found')
    })
  })

  describe('the CLI', () => {
    it('runs hello, writes the receipt, and verifies it with the node key', async () => {
      const run = await cli(node, ['run', join(ROOT, 'examples/hello/hello.wasm'), '--receipt', 'r.json', '--manifest-out', 'm.json', '--', 'Hello, World'])
      expect(run).toMatchObject({ code: 0, stdout: 'dlroW ,olleH\n' })
      const nodeKey = await cli(node, ['node', 'key'])
      expect(nodeKey.stdout.trim()).toBe(key)
      const ok = await cli(node, ['verify', 'r.json', '--key', key])
      expect(ok.code).toBe(0)
      expect(ok.stdout).toContain('receipt verified')
      const full = await cli(node, ['verify', 'r.json', '--key', key, '--manifest', 'm.json'])
      expect(full.code).toBe(0)
      expect(full.stdout).toContain('nonce')
      const wrong = await cli(node, ['verify', 'r.json', '--key', 'ab'.repeat(32)])
      expect(wrong.code).toBe(1)
      expect(wrong.stderr).toContain('NOT verified')
    })

    it('passes the CLI\'s stdin to the module', async () => {
      const run = await cli(node, ['run', join(ROOT, 'examples/hello/hello.wasm')], 'stressed')
      expect(run.stdout).toBe('desserts\n')
    })

    it('exits 64 on misuse and 66 on a missing file', async () => {
      expect((await cli(node, ['run'])).code).toBe(64)
      expect((await cli(node, ['run', 'missing.wasm'])).code).toBe(66)
      expect((await cli(node, ['verify', 'r.json'])).code).toBe(64)
    })
  })

  describe('hostile modules through the whole node', () => {
    it('times out an infinite loop and keeps serving', async () => {
      const loop = await compileWat('(module (func (export "_start") (loop $l (br $l))) (memory (export "memory") 1))')
      const m = manifest({ module_hash: contentHash(loop), limits: { timeout_ms: 200 } })
      const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module: loop })
      expect(res.status).toBe('timeout')
      await verifyReceipt(res.receiptJson, { publicKey: key })
      const ok = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: ['still here'] }))) })
      expect(dec.decode(ok.stdout)).toBe('ereh llits\n')
    })
  })

  describe('the signer', () => {
    it('refuses to sign bytes that are not a receipt', async () => {
      const signer = createGrpcClient(SignerService, `unix:${join(node.dir, 'run', 'signer.sock')}`)
      try {
        await expect(signer.signReceipt({ receiptJson: enc.encode('{"hello":"world"}') })).rejects.toMatchObject({ code: 'invalid_receipt' })
        await expect(signer.signReceipt({ receiptJson: enc.encode('not json') })).rejects.toMatchObject({ code: 'invalid_json' })
      } finally {
        signer.close()
      }
    })
  })

  describe('faults', () => {
    it('moves a job to the other executor when one is killed mid-job', async () => {
      const slow = await compileWat('(module (func (export "_start") (local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 400000000))))) (memory (export "memory") 1))')
      const first = client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ module_hash: contentHash(slow) }))), module: slow })
      const second = client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ module_hash: contentHash(slow) }))), module: slow })
      // Kill executor 1 while it is running one of the two jobs.
      const status = createGrpcClient(ExecutorService, `unix:${join(node.dir, 'run', 'executors', 'executor-1.sock')}`)
      try {
        await waitFor(async () => (await status.getStatus({})).running > 0, { what: 'executor 1 running a job', intervalMs: 5 })
      } finally {
        status.close()
      }
      try {
        await node.stopProcess('executor-1', 'SIGKILL')
        const results = await Promise.all([first, second])
        for (const r of results) {
          expect(r.status).toBe('ok')
          await verifyReceipt(r.receiptJson, { publicKey: key })
        }
      } finally {
        await Promise.allSettled([first, second])
        await node.startProcess('executor-1')
      }
    })

    it('answers UNAVAILABLE and signs nothing when the signer is down', async () => {
      await node.stopProcess('signer')
      try {
        await expect(client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: ['x'] }))) })).rejects.toMatchObject({ code: 'unavailable' })
      } finally {
        await node.startProcess('signer')
      }
      const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: ['back'] }))) })
      expect(dec.decode(res.stdout)).toBe('kcab\n')
    })
  })
})
