/**
 * Every outcome gets a receipt, through the whole node (signer, executor, discovery as real
 * processes): exit codes past 2^31 are signed as the WASI u32, a guest catching its own exit
 * cannot turn it into ok, and a heap bomb ends memory_limit while the executor process lives on.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import wabtInit from 'wabt'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceipt } from '../../services/core/protocol/src/crypto/verify.ts'
import { jobIdOf, parseManifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { validateUnsignedReceipt } from '../../services/core/protocol/src/documents/index.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { gcStructChain } from './wasm-bytes.ts'

jest.setTimeout(120_000)
const wabt = await wabtInit()
const W = '"wasi_snapshot_preview1"'
const enc = new TextEncoder()

function wat (source: string): Uint8Array {
  const mod = wabt.parseWat('t.wat', source, { exceptions: true })
  try { return new Uint8Array(mod.toBinary({}).buffer) } finally { mod.destroy() }
}

const exitWith = (code: number): Uint8Array => wat(`(module (import ${W} "proc_exit" (func $exit (param i32))) (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const ${code | 0}))))`)

describe('job outcomes through a whole node', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  let key: string
  let peerId: string

  beforeAll(async () => {
    node = await startTestNode({ executors: 1 })
    client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 64 * 1024 * 1024 })
    const info = await client.getNodeInfo({})
    key = info.receiptPublicKey
    peerId = info.peerId
  })
  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  async function submit (module: Uint8Array, limits: Record<string, number> = {}): Promise<Awaited<ReturnType<typeof client.submitJob>> & { receipt: Record<string, unknown> }> {
    const m = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), limits: { timeout_ms: 20_000, ...limits } }
    const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), module })
    const parsed = parseManifest(m)
    const { receipt } = await verifyReceipt(res.receiptJson, {
      publicKey: key,
      peerId,
      job: { jobId: jobIdOf(parsed), nonce: parsed.nonce, moduleHash: parsed.module_hash },
      outputs: { stdout: res.stdout, stderr: res.stderr }
    })
    return Object.assign(res, { receipt: receipt as unknown as Record<string, unknown> })
  }

  it.each([
    [0xFFFFFFFF, 4294967295n],
    [2 ** 31, 2147483648n],
    [255, 255n]
  ])('signs a receipt for proc_exit(%i) with the u32 exit code', async (arg, code) => {
    const res = await submit(exitWith(arg))
    expect(res.status).toBe('exit')
    expect(res.exitCode).toBe(code)
    expect(res.receipt.exit_code).toBe(Number(code))
  })

  it('refuses an exit code past the u32 in the receipt schema', () => {
    const { signature: _s, ...unsigned } = { version: 1, job_id: 'sha256:' + 'a'.repeat(64), nonce: 'b'.repeat(32), module_hash: 'sha256:' + 'c'.repeat(64), inputs_hash: 'sha256:' + 'd'.repeat(64), stdout_hash: 'sha256:' + 'e'.repeat(64), stdout_bytes: 0, stderr_hash: 'sha256:' + 'e'.repeat(64), stderr_bytes: 0, status: 'exit', exit_code: 4294967295, limits: { memory_bytes: 1, timeout_ms: 1, output_bytes: 1 }, wall_time_us: 1, cpu_time_us: 1, started_at: '2026-01-01T00:00:00Z', finished_at: '2026-01-01T00:00:00Z', node: { peer_id: peerId, public_key: key }, runtime: { name: 'v8', version: '1' }, signature: '' }
    expect(() => validateUnsignedReceipt(unsigned as never)).not.toThrow()
    expect(() => validateUnsignedReceipt({ ...unsigned, exit_code: 4294967296 } as never)).toThrow(expect.objectContaining({ code: 'invalid_receipt' }) as never)
  })

  it('signs exit, not ok, for a guest that catches its own proc_exit', async () => {
    const res = await submit(wat(`(module (import ${W} "proc_exit" (func $exit (param i32))) (memory (export "memory") 1)
      (func (export "_start") (try (do (call $exit (i32.const 9))) (catch_all))))`))
    expect(res.status).toBe('exit')
    expect(res.receipt).toMatchObject({ status: 'exit', exit_code: 9 })
  })

  it('signs memory_limit for a heap bomb, with its CPU time, and the executor process stays up', async () => {
    const pid = node.procs.get('executor-0')!.child.pid
    const res = await submit(gcStructChain(), { memory_mb: 16 })
    expect(res.receipt).toMatchObject({ status: 'memory_limit', exit_code: -1 })
    expect(res.receipt.cpu_time_us as number).toBeGreaterThan(0)
    expect(node.procs.get('executor-0')!.child.pid).toBe(pid)
    expect(node.procs.get('executor-0')!.child.exitCode).toBeNull()
    expect((await submit(exitWith(0))).status).toBe('ok')
  })

  it('exits 255 from the CLI for an exit code above 255 and prints the real one', async () => {
    const file = join(node.dir, 'exit.wasm')
    await writeFile(file, exitWith(0xFFFFFFFF))
    const run = await new Promise<{ code: number, stderr: string }>((resolve) => {
      const child = execFile(join(ROOT, 'bin/phase'), ['run', file], { env: { ...node.env, PHASE_API: node.grpc }, cwd: node.dir }, (err, _stdout, stderr) => {
        resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stderr })
      })
      child.stdin!.end() // the CLI reads stdin as the job's
    })
    expect(run.code).toBe(255)
    expect(run.stderr).toContain('4294967295')
  })
})
