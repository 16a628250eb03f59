/**
 * The TypeScript SDK: the shared receipt vectors through its `verify`, and a real node through
 * `PhaseClient` — a verified answer only against an expected key, typed errors, cancellation.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PhaseClient, manifest, verify, isPhaseError } from '../../sdk/ts/src/index.ts'
import { VECTORS_FILE } from '../vectors/generate.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { GrpcServer } from '../../services/core/rpc/src/index.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { contentHash } from '../../services/core/protocol/src/hash.ts'
import { jobIdOf, inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { unsignedReceipt } from '../core/receipt-fixture.ts'

interface VectorCase {
  name: string
  receipt_json: string
  expect: { public_key: string, peer_id?: string, job?: { job_id?: string, nonce?: string, module_hash?: string, inputs_hash?: string }, outputs?: { stdout_base64?: string, stderr_base64?: string, files_base64?: Record<string, string> } }
  valid: boolean
  failed_check?: string
}

const vectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { cases: VectorCase[] }
const HELLO = join(ROOT, 'examples/hello/hello.wasm')
const bytes = (b64?: string): Uint8Array | undefined => b64 === undefined ? undefined : new Uint8Array(Buffer.from(b64, 'base64'))

describe('sdk verify', () => {
  it.each(vectors.cases.map((c) => [c.name, c] as const))('gives the vector verdict for %s', async (_name, c) => {
    const e = c.expect
    const run = verify(c.receipt_json, {
      expectedKey: e.public_key,
      ...(e.job !== undefined && { expectJob: { jobId: e.job.job_id, nonce: e.job.nonce, moduleHash: e.job.module_hash, inputsHash: e.job.inputs_hash } }),
      ...(e.outputs !== undefined && { outputs: { stdout: bytes(e.outputs.stdout_base64), stderr: bytes(e.outputs.stderr_base64), ...(e.outputs.files_base64 !== undefined && { files: Object.entries(e.outputs.files_base64).map(([path, b64]) => ({ path, data: bytes(b64)! })) }) } }),
      ...(e.peer_id !== undefined && { expectedPeerId: e.peer_id })
    })
    if (c.valid) await expect(run).resolves.toMatchObject({ checks: expect.any(Array) })
    else await expect(run).rejects.toMatchObject({ code: 'verification_failed', check: c.failed_check })
  })

  it('refuses to call a receipt verified without an expected key', async () => {
    const valid = vectors.cases.find((c) => c.valid)!
    await expect(verify(valid.receipt_json, {})).rejects.toMatchObject({ code: 'verification_failed', check: 'key' })
  })
})

describe('PhaseClient against a node that lies beside its receipt', () => {
  // The receipt is genuine (status "exit", exit code 3); the response fields around it claim success.
  const signer = createReceiptSigner(new Uint8Array(32).fill(7))
  const stdout = new TextEncoder().encode('out\n')
  const refuse = async (): Promise<never> => { throw new Error('not in this test') }
  let dir: string
  let server: GrpcServer
  let client: PhaseClient

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phase-liar-'))
    server = new GrpcServer({ logger: silentLogger() }, { shutdownGraceMs: 200 }).add(NodeService, {
      async submitJob (req: { manifestJson: Uint8Array }) {
        const m = JSON.parse(new TextDecoder().decode(req.manifestJson)) as Manifest
        const { canonical } = signer.sign(unsignedReceipt(signer.publicKey, {
          job_id: jobIdOf(m), nonce: m.nonce, module_hash: m.module_hash, inputs_hash: inputsHashOf(m),
          stdout_hash: contentHash(stdout), stdout_bytes: stdout.byteLength, stderr_hash: contentHash(new Uint8Array()), stderr_bytes: 0, status: 'exit', exit_code: 3
        }))
        return { jobId: `sha256:${'0'.repeat(64)}`, manifestJson: req.manifestJson, status: 'ok', exitCode: 0, stdout, stderr: new Uint8Array(), receiptJson: canonical, peerId: 'x', replicas: [], agreeing: 0 }
      },
      async hasModule () { return { cached: true } },
      async hasInputs () { return { missing: [] } },
      getNodeInfo: refuse, getNodeStatus: refuse, listPeers: refuse, findExecutors: refuse, diagnose: refuse
    })
    const address = await server.start(`unix:${join(dir, 'node.sock')}`)
    client = new PhaseClient({ address })
  })
  afterAll(async () => {
    client?.close()
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses the claims beside a verified receipt when they differ from it (issue 9: any disagreement is verification_failed)', async () => {
    const module = new Uint8Array(readFileSync(HELLO))
    // The first claim checked is the job id (then status, exit code): see ts-reported-values.test.ts.
    await expect(client.submit(manifest(module), module, { expectedKey: signer.publicKey })).rejects.toMatchObject({ code: 'verification_failed', check: 'job_id' })
  })
})

describe('PhaseClient against a real node', () => {
  let node: TestNode
  let client: PhaseClient
  beforeAll(async () => {
    node = await startTestNode({ executors: 1 })
    client = new PhaseClient({ address: node.grpc })
  })
  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  it('runs a module file and verifies the receipt against the key of the node it trusts', async () => {
    const r = await client.run(HELLO, ['Hello, World'], { trustNode: true })
    expect(new TextDecoder().decode(r.stdout)).toBe('dlroW ,olleH\n')
    expect(r.verification).toMatchObject({ verified: true })
    if (r.verification.verified) expect(r.verification.checks.join(' ')).toMatch(/nonce.*stdout/)
  })

  it('says unverified, never verified, when no key is expected', async () => {
    const r = await client.run(HELLO, ['x'])
    expect(r.verification).toMatchObject({ verified: false, reason: expect.stringContaining('expected key') })
  })

  it('fails verification against a wrong pinned key, and builds manifests with stdin', async () => {
    const module = new Uint8Array(readFileSync(HELLO))
    await expect(client.submit(manifest(module).stdin('stressed'), module, { expectedKey: 'ab'.repeat(32) })).rejects.toMatchObject({ code: 'verification_failed', check: 'key' })
    const { receiptPublicKey } = await client.nodeInfo()
    const r = await client.submit(manifest(module).stdin('stressed'), module, { expectedKey: receiptPublicKey })
    expect(new TextDecoder().decode(r.stdout)).toBe('desserts\n')
  })

  it('gives typed errors for bad manifests, wrong bytes and a cancelled call', async () => {
    const module = new Uint8Array(readFileSync(HELLO))
    expect(() => manifest(module).limits({ timeout_ms: -1 }).build()).toThrow(expect.objectContaining({ code: 'invalid_manifest' }))
    await expect(client.submit(manifest('sha256:' + '0'.repeat(64)), module)).rejects.toMatchObject({ code: 'hash_mismatch' })
    const controller = new AbortController()
    controller.abort()
    const err = await client.run(HELLO, ['x'], { signal: controller.signal }).catch((e: unknown) => e)
    expect(isPhaseError(err, 'cancelled')).toBe(true)
  })
})
