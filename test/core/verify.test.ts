import { describe, it, expect } from '@jest/globals'
import { verify as nodeVerify } from 'node:crypto'
import { contentHash } from '../../services/core/protocol/src/hash.ts'
import { RECEIPT_DOMAIN, signingBytes } from '../../services/core/protocol/src/crypto/domain.ts'
import { publicKeyFromHex } from '../../services/core/protocol/src/crypto/keys.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { verifyReceipt, verifyReceiptSync } from '../../services/core/protocol/src/crypto/index.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { canonicalBytes } from '../../services/core/protocol/src/canonical.ts'
import { PEER_ID, unsignedReceipt } from './receipt-fixture.ts'

const signer = createReceiptSigner(new Uint8Array(32).fill(9))
const other = createReceiptSigner(new Uint8Array(32).fill(10))
const STDOUT = new TextEncoder().encode('Hello, World')
const STDERR = new TextEncoder().encode('oops\n')
const { receipt, canonical } = signer.sign(unsignedReceipt(signer.publicKey, {
  stdout_hash: contentHash(STDOUT), stdout_bytes: STDOUT.byteLength, stderr_hash: contentHash(STDERR), stderr_bytes: STDERR.byteLength
}))
const job = { jobId: receipt.job_id, nonce: receipt.nonce, moduleHash: receipt.module_hash, inputsHash: receipt.inputs_hash }
/** A document as the bytes a verifier receives: its canonical JSON (what a signer sends). */
const bytesOf = (doc: object): Uint8Array => canonicalBytes(doc)

async function failure (input: object | Uint8Array, expect: unknown): Promise<{ code: string, check: string, message: string }> {
  try {
    await verifyReceipt(input instanceof Uint8Array ? input : bytesOf(input), expect as never)
  } catch (err) {
    return err as { code: string, check: string, message: string }
  }
  throw new Error('expected verification to fail')
}

describe('verifyReceipt', () => {
  it('lists every check it made, in order, when all expectations are given', async () => {
    const { checks } = await verifyReceipt(canonical, { publicKey: signer.publicKey, peerId: PEER_ID, job, outputs: { stdout: STDOUT, stderr: STDERR } })
    expect(checks).toEqual([
      'format (receipt v1)', 'canonical (RFC 8785, exact bytes)', `key matches expected ${signer.publicKey.slice(0, 8)}…`, `peer id ${PEER_ID}`,
      'signature (ed25519, phase-receipt:v1)', 'job id', 'nonce', 'module hash', 'inputs hash', 'stdout hash (12 bytes)', 'stderr hash (5 bytes)'
    ])
  })

  it('accepts the receipt as its canonical JSON text or UTF-8 bytes (a Buffer too)', async () => {
    const text = new TextDecoder().decode(canonical)
    await expect(verifyReceipt(text, { publicKey: signer.publicKey })).resolves.toMatchObject({ receipt })
    await expect(verifyReceipt(Buffer.from(text), { publicKey: signer.publicKey })).resolves.toMatchObject({ receipt })
  })

  it('refuses at the canonical check a receipt whose text is JSON.stringify, not JCS, though the signature is valid', async () => {
    const err = await failure(new TextEncoder().encode(JSON.stringify(receipt)), { publicKey: signer.publicKey })
    expect(err).toMatchObject({ code: 'verification_failed', check: 'canonical' })
  })

  it('refuses a parsed receipt object, an ArrayBuffer or a string with a lone surrogate at the format check', async () => {
    for (const input of [receipt, canonical.buffer, `${new TextDecoder().decode(canonical)}\ud800`]) {
      await expect(verifyReceipt(input as never, { publicKey: signer.publicKey })).rejects.toMatchObject({ code: 'verification_failed', check: 'format' })
      expect(() => verifyReceiptNode(input as never, { publicKey: signer.publicKey })).toThrow(expect.objectContaining({ check: 'format' }))
    }
  })

  it('refuses a text that is not UTF-8 at the format check', async () => {
    const bad = Uint8Array.from([...canonical.subarray(0, -2), 0xff, 0x7d])
    expect((await failure(bad, { publicKey: signer.publicKey })).check).toBe('format')
  })

  it('names the repeated member, at any depth, when the failure is a duplicate', async () => {
    const text = new TextDecoder().decode(canonical)
    const nested = text.replace('"limits":{', '"limits":{"timeout_ms":1,')
    const err = await failure(new TextEncoder().encode(nested), { publicKey: signer.publicKey })
    expect(err.check).toBe('canonical')
    expect(err.message).toContain('member /limits/timeout_ms appears more than once')
  })

  it('checks the format before the canonical form when both are wrong', async () => {
    const err = await failure(new TextEncoder().encode(JSON.stringify({ ...receipt, extra: 1 }, null, 1)), { publicKey: signer.publicKey })
    expect(err.check).toBe('format')
  })

  it('checks the canonical form before the key when both are wrong', async () => {
    expect((await failure(new TextEncoder().encode(` ${new TextDecoder().decode(canonical)}`), { publicKey: other.publicKey })).check).toBe('canonical')
  })

  it('throws a key failure when no expected key is given, or it is malformed', async () => {
    for (const expect_ of [undefined, {}, { publicKey: '' }, { publicKey: signer.publicKey.toUpperCase() }, { publicKey: 'ab' }]) {
      const err = await failure(canonical, expect_)
      expect(err.code).toBe('verification_failed')
      expect(err.check).toBe('key')
    }
  })

  it('checks the format before the key when both are wrong', async () => {
    const err = await failure({ ...receipt, extra: 1 }, { publicKey: other.publicKey })
    expect(err.check).toBe('format')
    expect(err.message).toContain("(top level) has unknown field 'extra'")
  })

  it('checks the key before the signature when both are wrong', async () => {
    expect((await failure({ ...receipt, exit_code: 1 }, { publicKey: other.publicKey })).check).toBe('key')
  })

  it('checks the signature before the job when both are wrong', async () => {
    expect((await failure({ ...receipt, job_id: contentHash(new Uint8Array()) }, { publicKey: signer.publicKey, job })).check).toBe('signature')
  })

  it('fails the stdout check with the sizes when fewer bytes arrived than the receipt counts', async () => {
    const err = await failure(canonical, { publicKey: signer.publicKey, outputs: { stdout: STDOUT.subarray(1) } })
    expect(err.check).toBe('stdout_hash')
    expect(err.message).toContain('received 11 stdout bytes, the receipt says 12')
  })

  it('names the failed job field', async () => {
    for (const [field, check] of [['jobId', 'job_id'], ['nonce', 'nonce'], ['moduleHash', 'module_hash'], ['inputsHash', 'inputs_hash']] as const) {
      const wrong = field === 'nonce' ? 'f'.repeat(32) : contentHash(new Uint8Array([1]))
      expect((await failure(canonical, { publicKey: signer.publicKey, job: { ...job, [field]: wrong } })).check).toBe(check)
    }
  })

  it('returns the receipt it parsed from the bytes, frozen', async () => {
    const { receipt: verified } = await verifyReceipt(canonical, { publicKey: signer.publicKey })
    expect(verified).toEqual(receipt)
    expect(Object.isFrozen(verified.node)).toBe(true)
  })
})

describe('verifiers agree on small-order keys (RFC 8032 strict, like libsodium)', () => {
  // With a small-order A and S = 0, [S]B = R + [k]A can hold for a small-order R whatever the
  // message: a key like this would let its holder "sign" anything. Every verifier refuses it.
  const SMALL_ORDER = [
    `01${'00'.repeat(31)}`, `ec${'ff'.repeat(30)}7f`, '00'.repeat(32), `${'00'.repeat(31)}80`,
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'
  ]

  it('refuses them at the signature check in every Phase verifier, and so does bare node:crypto', async () => {
    for (const key of SMALL_ORDER) {
      for (const r of SMALL_ORDER) {
        const forged = { ...unsignedReceipt(key), signature: `${r}${'00'.repeat(32)}` }
        const expectations = { publicKey: key }
        await expect(verifyReceipt(bytesOf(forged), expectations)).rejects.toMatchObject({ check: 'signature' })
        expect(() => verifyReceiptSync(bytesOf(forged), expectations)).toThrow(expect.objectContaining({ check: 'signature' }))
        expect(() => verifyReceiptNode(bytesOf(forged), expectations)).toThrow(expect.objectContaining({ check: 'signature' }))
        expect(nodeVerify(null, signingBytes(RECEIPT_DOMAIN, forged), publicKeyFromHex(key), Buffer.from(forged.signature, 'hex'))).toBe(false)
      }
    }
  })

  it('refuses a signature whose S is not reduced (S + L), as node:crypto does', async () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n
    const s = BigInt(`0x${Buffer.from(receipt.signature.slice(64), 'hex').reverse().toString('hex')}`) + L
    const sHex = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse().toString('hex')
    const malleated = { ...receipt, signature: receipt.signature.slice(0, 64) + sHex }
    await expect(verifyReceipt(bytesOf(malleated), { publicKey: signer.publicKey })).rejects.toMatchObject({ check: 'signature' })
    expect(() => verifyReceiptNode(bytesOf(malleated), { publicKey: signer.publicKey })).toThrow(expect.objectContaining({ check: 'signature' }))
  })
})
