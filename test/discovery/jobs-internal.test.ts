/**
 * An internal error on the path to a signature is logged with its cause: a receipt the node
 * built that its own signer refuses (here: a real signer whose key is not the one the runner
 * was told, as after a key change) is answered `internal`, never as the client's fault.
 */
import { describe, it, expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { create } from '@bufbuild/protobuf'
import { ExecuteResponseSchema } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { generatePrivateKey, publicKeyHex } from '../../services/core/protocol/src/crypto/keys.ts'
import { canonicalBytes } from '../../services/core/protocol/src/canonical.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { silentLogger, type Logger } from '../../services/core/process/src/logger.ts'
import { JobRunner } from '../../services/discovery/src/jobs.ts'
import { ModuleStore } from '../../services/discovery/src/module-store.ts'

const LIMITS = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 16, maxTimeoutMs: 10_000, defaultTimeoutMs: 1000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 16, maxStdinBytes: 1 << 16, maxArgsBytes: 1 << 16 }
const PEER = '12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba'

describe('JobRunner', () => {
  it('logs a receipt its own signer refuses with the cause and answers internal', async () => {
    const errors: Array<{ fields: Record<string, unknown>, msg: string }> = []
    const logger = Object.assign(silentLogger(), {
      error: (fields: Record<string, unknown>, msg: string) => { errors.push({ fields, msg }) }
    }) as unknown as Logger
    const real = createReceiptSigner(generatePrivateKey())
    const module = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])
    const runner = new JobRunner({
      // The executor's answer for a job that exited with the largest u32.
      executors: { execute: async () => ({ executor: 0, response: create(ExecuteResponseSchema, { status: 'exit', exitCode: 4294967295n, startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:00.001Z', runtimeName: 'v8-wasm', runtimeVersion: '1' }) }) },
      modules: new ModuleStore({ logger: silentLogger() }),
      // The key the runner puts in the receipt is not the signer's own: the signer refuses it.
      signer: { publicKey: async () => publicKeyHex(generatePrivateKey()), sign: async (u) => ({ receiptJson: canonicalBytes(real.sign(u).receipt) }) },
      logger
    }, { limits: LIMITS, peerId: PEER, maxInFlight: 4 })
    const manifest = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex') }
    await expect(runner.run({ manifest: new TextEncoder().encode(JSON.stringify(manifest)), module })).rejects.toMatchObject({ code: 'internal', message: 'internal error' })
    expect(errors).toHaveLength(1)
    expect(errors[0]!.msg).toBe('signer refused a receipt this node built')
    expect(errors[0]!.fields).toMatchObject({ exitCode: 4294967295, err: expect.objectContaining({ code: 'invalid_receipt' }) })
  })
})
