/**
 * PhaseClient remembers which modules its node holds: a module the node held is submitted
 * without bytes and without a HasModule round trip, sent again once when the node has dropped
 * it, and the memory is bounded.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PhaseClient, manifest } from '../../sdk/ts/src/index.ts'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { GrpcServer } from '../../services/core/rpc/src/index.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { contentHash } from '../../services/core/protocol/src/hash.ts'
import { ModuleNotCachedError } from '../../services/core/protocol/src/errors.ts'
import { jobIdOf, inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { unsignedReceipt } from '../core/receipt-fixture.ts'

describe('PhaseClient module memory', () => {
  const signer = createReceiptSigner(new Uint8Array(32).fill(9))
  const stdout = new TextEncoder().encode('ok\n')
  const refuse = async (): Promise<never> => { throw new Error('not in this test') }
  /** What the fake node holds, and what it was asked. */
  const held = new Set<string>()
  const seen = { hasModule: 0, withBytes: 0, withoutBytes: 0 }
  let dir: string
  let server: GrpcServer
  let client: PhaseClient

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phase-known-'))
    server = new GrpcServer({ logger: silentLogger() }, { shutdownGraceMs: 200 }).add(NodeService, {
      async submitJob (req: { manifestJson: Uint8Array, module?: Uint8Array }) {
        const m = JSON.parse(new TextDecoder().decode(req.manifestJson)) as Manifest
        if (req.module !== undefined && req.module.byteLength > 0) {
          seen.withBytes++
          held.add(contentHash(req.module))
        } else {
          seen.withoutBytes++
          if (!held.has(m.module_hash)) throw new ModuleNotCachedError(`module ${m.module_hash} is not cached on this node; send its bytes`)
        }
        const { canonical, receipt } = signer.sign(unsignedReceipt(signer.publicKey, {
          job_id: jobIdOf(m), nonce: m.nonce, module_hash: m.module_hash, inputs_hash: inputsHashOf(m),
          stdout_hash: contentHash(stdout), stdout_bytes: stdout.byteLength, stderr_hash: contentHash(new Uint8Array()), stderr_bytes: 0, status: 'ok', exit_code: 0
        }))
        return { jobId: receipt.job_id, manifestJson: req.manifestJson, status: 'ok', exitCode: 0, stdout, stderr: new Uint8Array(), receiptJson: canonical, peerId: receipt.node.peer_id, replicas: [], agreeing: 0 }
      },
      async hasModule (req: { moduleHash: string }) { seen.hasModule++; return { cached: held.has(req.moduleHash) } },
      hasInputs: refuse, getNodeInfo: refuse, getNodeStatus: refuse, listPeers: refuse, findExecutors: refuse, diagnose: refuse
    })
    const address = await server.start(`unix:${join(dir, 'node.sock')}`)
    client = new PhaseClient({ address })
  })
  afterAll(async () => {
    client?.close()
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const submit = async (module: Uint8Array): Promise<void> => {
    const r = await client.submit(manifest(module), module, { expectedKey: signer.publicKey })
    expect(r.verification.verified).toBe(true)
  }

  it('asks once, then submits a held module without bytes or HasModule', async () => {
    const module = new Uint8Array(randomBytes(64))
    const before = { ...seen }
    const grew = (): typeof seen => ({ hasModule: seen.hasModule - before.hasModule, withBytes: seen.withBytes - before.withBytes, withoutBytes: seen.withoutBytes - before.withoutBytes })
    await submit(module)
    expect(grew()).toEqual({ hasModule: 1, withBytes: 1, withoutBytes: 0 })
    await submit(module)
    await submit(module)
    expect(grew()).toEqual({ hasModule: 1, withBytes: 1, withoutBytes: 2 })
  })

  it('sends the bytes once when the node has dropped a module it held', async () => {
    const module = new Uint8Array(randomBytes(64))
    await submit(module)
    const before = { ...seen }
    held.delete(contentHash(module))
    await submit(module)
    // Refused without bytes (module_not_cached), then sent with them: the job still runs once.
    expect(seen).toEqual({ hasModule: before.hasModule, withBytes: before.withBytes + 1, withoutBytes: before.withoutBytes + 1 })
    await submit(module)
    expect(seen.withBytes).toBe(before.withBytes + 1)
  })

  it('forgets the oldest module past 256 remembered, and asks about it again', async () => {
    const first = new Uint8Array(randomBytes(64))
    await submit(first)
    for (let i = 0; i < 256; i++) await submit(new Uint8Array(randomBytes(64)))
    const before = seen.hasModule
    await submit(first)
    expect(seen.hasModule).toBe(before + 1)
  })
})
