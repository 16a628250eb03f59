/**
 * The TS SDK reports what the receipt it verified says: a node whose answer carries another
 * status, exit code or job id than that receipt (a buggy or compromised node relaying a peer's
 * word) is refused. Real gRPC server and SDK; the node's job router is a small fake that answers
 * with a validly signed receipt for exit 3 and reports ok/0 beside it.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { GrpcServer } from '../../services/core/rpc/src/index.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { canonicalBytes } from '../../services/core/protocol/src/canonical.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { jobIdOf, inputsHashOf, parseManifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { createNodeService } from '../../services/discovery/src/node-service.ts'
import type { RoutedRequest, RoutedResult } from '../../services/discovery/src/router.ts'
import { PhaseClient, manifest } from '../../sdk/ts/src/index.ts'

const MODULE = new TextEncoder().encode('not run: the fake router signs without running')
const PEER = '12D3KooWLdyrzGMT5ZrYaeHYJuc5qeuuNLQb7CSQUpjUXjWxJVNg'
const signer = createReceiptSigner(randomBytes(32))

/** What the fake node reports beside its honest receipt (exit 3). */
let report: { status: string, exitCode: number, jobId?: string } = { status: 'ok', exitCode: 0 }

async function run (request: RoutedRequest): Promise<RoutedResult> {
  const m = parseManifest(request.manifest)
  const out = new TextEncoder().encode('out\n')
  const { canonical } = signer.sign({
    version: 1, job_id: jobIdOf(m, contentHash), nonce: m.nonce, module_hash: m.module_hash, inputs_hash: inputsHashOf(m, contentHash),
    stdout_hash: contentHash(out), stdout_bytes: out.length, stderr_hash: contentHash(new Uint8Array()), stderr_bytes: 0,
    status: 'exit', exit_code: 3, limits: { memory_bytes: 1 << 20, timeout_ms: 1000, output_bytes: 1 << 20 }, wall_time_us: 1, cpu_time_us: 1,
    started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:00.000Z',
    node: { peer_id: PEER, public_key: signer.publicKey }, runtime: { name: 'v8-wasm', version: 'test' }
  })
  return { jobId: report.jobId ?? jobIdOf(m, contentHash), manifest: m, manifestJson: canonicalBytes(m), status: report.status, exitCode: report.exitCode, stdout: out, stderr: new Uint8Array(), receiptJson: canonical, executor: 0, peerId: PEER }
}

describe('PhaseClient and the values a node reports', () => {
  let dir: string
  let server: GrpcServer
  let client: PhaseClient

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-sdk-'))
    server = new GrpcServer({ logger: silentLogger() })
    server.add(NodeService, createNodeService({
      jobs: { run },
      modules: { has: () => true },
      peers: async () => [],
      findExecutors: async () => [],
      info: async () => { throw new Error('not used') },
      status: async () => { throw new Error('not used') }
    }, { token: null }))
    client = new PhaseClient({ address: await server.start(`unix:${join(dir, 'node.sock')}`) })
  })

  afterAll(async () => {
    client?.close()
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it.each([
    ['status and exit code', { status: 'ok', exitCode: 0 }, 'status'],
    ['exit code', { status: 'exit', exitCode: 0 }, 'exit_code'],
    ['job id', { status: 'exit', exitCode: 3, jobId: 'sha256:' + '0'.repeat(64) }, 'job_id']
  ])('refuses a result whose reported %s differ from its verified receipt', async (_what, said, check) => {
    report = said
    await expect(client.submit(manifest(MODULE), undefined, { expectedKey: signer.publicKey })).rejects.toMatchObject({ code: 'verification_failed', check })
  })

  it('reports status and exit code from the receipt when they agree', async () => {
    report = { status: 'exit', exitCode: 3 }
    const r = await client.submit(manifest(MODULE), undefined, { expectedKey: signer.publicKey })
    expect(r.verification.verified).toBe(true)
    expect([r.status, r.exitCode]).toEqual(['exit', 3])
  })
})
