import { describe, it, expect } from '@jest/globals'
import { randomBytes, randomInt, verify as nodeVerify } from 'node:crypto'
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { canonicalize } from '../../services/core/protocol/src/canonical.ts'
import { RECEIPT_DOMAIN, signingBytes } from '../../services/core/protocol/src/crypto/domain.ts'
import { bytesToHex, hexToBytes } from '../../services/core/protocol/src/crypto/hex.ts'
import { generatePrivateKey, privateKeyFromSeed, publicKeyFromHex, publicKeyHex, seedOf, toPrivateKey } from '../../services/core/protocol/src/crypto/keys.ts'
import { createReceiptSigner, signDocument, withMember } from '../../services/core/protocol/src/crypto/sign.ts'
import fc from 'fast-check'
import { unsignedReceipt } from './receipt-fixture.ts'

ed.hashes.sha512 ??= sha512

function errorOf (fn: () => unknown): { code: string, message: string } {
  try { fn() } catch (err) { return err as { code: string, message: string } }
  throw new Error('expected an error')
}

describe('keys', () => {
  it('derives the RFC 8032 test 1 public key from its seed', () => {
    const seed = hexToBytes('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 32)!
    expect(publicKeyHex(privateKeyFromSeed(seed))).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
  })

  it('round-trips a generated key through its seed and its public key through hex', () => {
    const key = generatePrivateKey()
    const seed = seedOf(key)
    expect(seed.byteLength).toBe(32)
    expect(publicKeyHex(privateKeyFromSeed(seed))).toBe(publicKeyHex(key))
    expect(publicKeyHex(publicKeyFromHex(publicKeyHex(key)))).toBe(publicKeyHex(key))
  })

  it('refuses a seed that is not 32 bytes, a malformed public key and a key of another type', () => {
    expect(() => privateKeyFromSeed(new Uint8Array(31))).toThrow(RangeError)
    expect(() => publicKeyFromHex('AB'.repeat(32))).toThrow(RangeError)
    expect(() => toPrivateKey(publicKeyFromHex(publicKeyHex(generatePrivateKey())))).toThrow(TypeError)
  })
})

describe('createReceiptSigner', () => {
  const seed = new Uint8Array(32).fill(7)

  it('gives the same public key for a seed and for its KeyObject', () => {
    expect(createReceiptSigner(seed).publicKey).toBe(createReceiptSigner(privateKeyFromSeed(seed)).publicKey)
  })

  it('signs domain || JCS(receipt), verifiable with node:crypto, and returns the canonical JSON of the signed receipt', () => {
    const signer = createReceiptSigner(seed)
    const { receipt, canonical } = signer.sign(unsignedReceipt(signer.publicKey))
    expect(receipt.signature).toMatch(/^[0-9a-f]{128}$/)
    expect(new TextDecoder().decode(canonical)).toBe(canonicalize(receipt))
    const { signature, ...body } = receipt
    const message = Buffer.from(RECEIPT_DOMAIN + canonicalize(body))
    expect(nodeVerify(null, message, publicKeyFromHex(signer.publicKey), Buffer.from(signature, 'hex'))).toBe(true)
  })

  it('refuses a receipt that is schema-invalid, already signed, or names another key', () => {
    const signer = createReceiptSigner(seed)
    expect(errorOf(() => signer.sign({ ...unsignedReceipt(signer.publicKey), exit_code: 1.5 })).code).toBe('invalid_receipt')
    expect(errorOf(() => signer.sign({ ...unsignedReceipt(signer.publicKey), signature: 'a'.repeat(128) } as never)).code).toBe('invalid_receipt')
    expect(errorOf(() => signer.sign(unsignedReceipt('c'.repeat(64)))).message).toContain('another public key')
  })
})

describe('signatures: node:crypto and @noble/ed25519', () => {
  it('are byte-identical for many random receipts and keys', () => {
    for (let i = 0; i < 64; i++) {
      const seed = randomBytes(32)
      const key = privateKeyFromSeed(seed)
      const doc = unsignedReceipt(publicKeyHex(key), {
        exit_code: randomInt(-1, 256),
        wall_time_us: randomInt(0, 2 ** 47),
        stdout_bytes: randomInt(0, 2 ** 40),
        runtime: { name: `rt-${randomBytes(4).toString('hex')}-é✓`, version: String(i) }
      })
      const nodeSig = signDocument(RECEIPT_DOMAIN, doc, key)
      const nobleSig = bytesToHex(ed.sign(signingBytes(RECEIPT_DOMAIN, doc), seed))
      expect(nodeSig).toBe(nobleSig)
      expect(bytesToHex(ed.getPublicKey(seed))).toBe(publicKeyHex(key))
    }
  })
})

describe('signingBytes', () => {
  it('leaves out the signature field, so a signed document gives the bytes its signature covers', () => {
    const doc = unsignedReceipt('a'.repeat(64))
    expect(signingBytes(RECEIPT_DOMAIN, { ...doc, signature: 'x' })).toEqual(signingBytes(RECEIPT_DOMAIN, doc))
    expect(new TextDecoder().decode(signingBytes('d:', { b: 1, a: 'é' }))).toBe('d:{"a":"é","b":1}')
  })
})

describe('withMember', () => {
  it('gives the JCS of the object with the member added, for any JSON object and name', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), fc.jsonValue(), (doc, name, value) => {
      fc.pre(!(name in doc) && !Object.prototype.hasOwnProperty.call(doc, name))
      const clean = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>
      const v = JSON.parse(JSON.stringify(value)) as unknown
      expect(withMember(canonicalize(clean), name, canonicalize(v))).toBe(canonicalize({ ...clean, [name]: v }))
    }), { numRuns: 2000 })
  })

  it('puts the signature where JCS of the signed receipt has it, whatever optional members the receipt holds', () => {
    const signer = createReceiptSigner(new Uint8Array(32).fill(3))
    for (const fields of [{}, { status: 'trap' as const, exit_code: -1 }, { stdout_bytes: 0, runtime: { name: 'x"},"signature":"', version: '\\' } }]) {
      const { receipt, canonical } = signer.sign(unsignedReceipt(signer.publicKey, fields))
      expect(new TextDecoder().decode(canonical)).toBe(canonicalize(receipt))
    }
  })
})
