/**
 * The shared receipt vectors (test/vectors/receipts.v1.json) through every TS verifier — the
 * portable one (async and sync), the node's node:crypto one — each given the exact text
 * (`receipt_json`) and its UTF-8 bytes, and through an independent signature check built only
 * from node:crypto and the `canonicalize` package.
 */
import { describe, it, expect } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { createPublicKey, verify as nodeVerify } from 'node:crypto'
import jcs from 'canonicalize'
import { verifyReceipt, verifyReceiptSync } from '../../services/core/protocol/src/crypto/verify.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { useEd25519Path, useWebCrypto } from '../../services/core/protocol/src/crypto/ed25519.ts'
import type { VerifyExpectations } from '../../services/core/protocol/src/crypto/checks.ts'
import { renderVectors, VECTORS_FILE } from '../vectors/generate.ts'

interface VectorCase {
  name: string
  receipt: unknown
  receipt_json: string
  expect: {
    public_key: string
    peer_id?: string
    job?: { job_id?: string, nonce?: string, module_hash?: string, inputs_hash?: string }
    outputs?: { stdout_base64?: string, stderr_base64?: string, files_base64?: Record<string, string> }
  }
  valid: boolean
  failed_check?: string
}

const text = readFileSync(VECTORS_FILE, 'utf8')
const file = JSON.parse(text) as { domain: string, public_key: string, other_public_key: string, cases: VectorCase[] }

/** The files received, as the list form of `expect.outputs.files` (undefined: not checked). */
function filesOf (files: Record<string, string> | undefined): Array<{ path: string, data: Uint8Array }> | undefined {
  return files === undefined ? undefined : Object.entries(files).map(([path, b64]) => ({ path, data: new Uint8Array(Buffer.from(b64, 'base64')) }))
}

/** The vector's expectations in the verifier's own shape. */
function expectations (e: VectorCase['expect']): VerifyExpectations {
  const bytes = (b64: string | undefined) => b64 === undefined ? undefined : new Uint8Array(Buffer.from(b64, 'base64'))
  return {
    publicKey: e.public_key,
    ...(e.peer_id !== undefined && { peerId: e.peer_id }),
    ...(e.job !== undefined && { job: { jobId: e.job.job_id, nonce: e.job.nonce, moduleHash: e.job.module_hash, inputsHash: e.job.inputs_hash } }),
    ...(e.outputs !== undefined && { outputs: { stdout: bytes(e.outputs.stdout_base64), stderr: bytes(e.outputs.stderr_base64), files: filesOf(e.outputs.files_base64) } })
  }
}

const VERIFIERS = {
  'verifyReceipt (portable, async: native node:crypto path)': verifyReceipt,
  'verifyReceipt (portable, async: WebCrypto path)': async (input: Uint8Array | string, e: VerifyExpectations) => {
    useEd25519Path('webcrypto')
    try { return await verifyReceipt(input, e) } finally { useEd25519Path('native') }
  },
  'verifyReceipt (portable, async: pure-JS fallback)': async (input: Uint8Array | string, e: VerifyExpectations) => {
    useWebCrypto(false)
    try { return await verifyReceipt(input, e) } finally { useWebCrypto(true) }
  },
  'verifyReceiptSync (portable)': verifyReceiptSync,
  'verifyReceiptNode (node:crypto)': verifyReceiptNode
}

describe('receipt vectors', () => {
  it('are exactly what test/vectors/generate.ts writes now', () => {
    expect(text).toBe(renderVectors())
  })

  it('cover every check a verifier makes, and both valid and invalid receipts', () => {
    const checks = new Set(file.cases.map(c => c.failed_check))
    for (const check of ['format', 'canonical', 'key', 'peer_id', 'signature', 'job_id', 'nonce', 'module_hash', 'inputs_hash', 'stdout_hash', 'stderr_hash', 'outputs']) {
      expect(checks).toContain(check)
    }
    expect(file.cases.filter(c => c.valid).length).toBeGreaterThanOrEqual(2)
  })

  for (const [name, verifier] of Object.entries(VERIFIERS)) {
    describe(name, () => {
      for (const c of file.cases) {
        it(c.valid ? `accepts ${c.name}` : `rejects ${c.name} at the ${c.failed_check} check`, async () => {
          for (const input of [c.receipt_json, new TextEncoder().encode(c.receipt_json)]) {
            if (c.valid) {
              const { receipt, checks } = await verifier(input, expectations(c.expect))
              expect(receipt).toEqual(JSON.parse(c.receipt_json))
              expect(checks.slice(0, 2)).toEqual(['format (receipt v1)', 'canonical (RFC 8785, exact bytes)'])
              expect(checks).toContain('signature (ed25519, phase-receipt:v1)')
            } else {
              await expect(Promise.resolve().then(() => verifier(input, expectations(c.expect))))
                .rejects.toMatchObject({ code: 'verification_failed', check: c.failed_check })
            }
          }
        })
      }

      it('refuses a parsed receipt object at the format check: it has no bytes to check', async () => {
        const valid = file.cases.find(c => c.valid)!
        await expect(Promise.resolve().then(() => verifier(JSON.parse(valid.receipt_json) as never, expectations(valid.expect))))
          .rejects.toMatchObject({ code: 'verification_failed', check: 'format', message: expect.stringContaining('exact bytes or text') })
      })
    })
  }

  describe('independent node:crypto signature check', () => {
    // Cases whose receipt has a well-formed key and signature: the signature is valid under the
    // key the receipt names unless the vector says the signature check fails.
    const signedCases = file.cases.filter(c => {
      const r = c.receipt as { signature?: unknown, node?: { public_key?: unknown } } | null
      return typeof r === 'object' && r !== null && /^[0-9a-f]{128}$/.test(String(r.signature)) && /^[0-9a-f]{64}$/.test(String(r.node?.public_key))
    })

    it('has something to check', () => {
      expect(signedCases.length).toBeGreaterThan(10)
    })

    for (const c of signedCases) {
      it(`${c.failed_check === 'signature' ? 'refuses' : 'accepts'} the signature of ${c.name}`, () => {
        const { signature, ...body } = c.receipt as { signature: string, node: { public_key: string } }
        const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(body.node.public_key, 'hex')])
        const key = createPublicKey({ key: spki, format: 'der', type: 'spki' })
        const message = Buffer.from(file.domain + jcs(body)!, 'utf8')
        expect(nodeVerify(null, message, key, Buffer.from(signature, 'hex'))).toBe(c.failed_check !== 'signature')
      })
    }
  })
})
