/**
 * The one Ed25519 rule of every Phase verifier (libsodium's): the native path (node:crypto), the
 * WebCrypto path, the pure-JS path and node:crypto behind the same pre-checks agree on valid signatures, on tampered ones,
 * and on the encodings where libraries differ (small-order and non-canonical keys, S ≥ L,
 * small-order R).
 */
import { describe, it, expect } from '@jest/globals'
import { generateKeyPairSync, randomBytes, sign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { MAX_VETTED_KEYS, cachedKeyCounts, ed25519Path, signatureShapeOk, useEd25519Path, verifyEd25519, verifyEd25519Sync, vetPublicKey } from '../../services/core/protocol/src/crypto/ed25519.ts'
import { MAX_NATIVE_KEYS } from '../../services/core/protocol/src/crypto/ed25519-native.ts'

const rawPublic = (key: KeyObject): Uint8Array => new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(12))
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const le32 = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))
const le = (bytes: Uint8Array): bigint => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n)

/** verifyEd25519 with its path pinned (the default path restored after). */
async function onPath (path: 'native' | 'webcrypto', signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  expect(useEd25519Path(path)).toBe(path)
  try { return await verifyEd25519(signature, message, publicKey) } finally { useEd25519Path('native') }
}

/** Every path's verdict on one signature; bare node:crypto only when the pre-checks pass, as the native path does. */
async function verdicts (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, nodeKey?: KeyObject): Promise<boolean[]> {
  const pre = vetPublicKey(publicKey) !== undefined && signatureShapeOk(signature)
  let node = false
  try { node = pre && nodeVerify(null, message, nodeKey!, signature) } catch { node = false }
  return [await onPath('native', signature, message, publicKey), await onPath('webcrypto', signature, message, publicKey), verifyEd25519Sync(signature, message, publicKey), node]
}

describe('verifyEd25519', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = rawPublic(publicKey)

  it('uses node:crypto (the native path) on this Node, through the "node" import condition', async () => {
    const message = randomBytes(40)
    expect(await verifyEd25519(new Uint8Array(sign(null, message, privateKey)), message, raw)).toBe(true)
    expect(ed25519Path()).toBe('native')
    expect(cachedKeyCounts().native).toBeGreaterThan(0)
  })

  it('keeps every key cache within its bound when more keys than the bound are seen', async () => {
    const message = new Uint8Array(randomBytes(24))
    const bound = Math.max(MAX_VETTED_KEYS, MAX_NATIVE_KEYS)
    let last: { raw: Uint8Array, signature: Uint8Array } | undefined
    for (let i = 0; i < bound + 50; i++) {
      const pair = generateKeyPairSync('ed25519')
      const signature = new Uint8Array(sign(null, message, pair.privateKey))
      last = { raw: rawPublic(pair.publicKey), signature }
      // Every key is new: vetted, imported, then pushed out in turn.
      expect(await onPath('native', signature, message, last.raw)).toBe(true)
      expect(await onPath('webcrypto', signature, message, last.raw)).toBe(true)
    }
    const counts = cachedKeyCounts()
    expect(counts.vetted).toBe(MAX_VETTED_KEYS)
    expect(counts.native).toBe(MAX_NATIVE_KEYS)
    expect(counts.webcrypto).toBe(MAX_VETTED_KEYS)
    // The newest key is still cached and still verifies; an evicted one is vetted again and verifies too.
    expect(await verifyEd25519(last!.signature, message, last!.raw)).toBe(true)
    expect(await verdicts(new Uint8Array(sign(null, message, privateKey)), message, raw, publicKey)).toEqual([true, true, true, true])
    expect(cachedKeyCounts().vetted).toBe(MAX_VETTED_KEYS)
  })

  it('gives the same answer on every path for valid and tampered signatures', async () => {
    for (let i = 0; i < 40; i++) {
      const message = new Uint8Array(randomBytes(1 + i * 7))
      const signature = new Uint8Array(sign(null, message, privateKey))
      expect(await verdicts(signature, message, raw, publicKey)).toEqual([true, true, true, true])
      const bad = signature.slice()
      bad[i % 64]! ^= 1 << (i % 8)
      expect(await verdicts(bad, message, raw, publicKey)).toEqual([false, false, false, false])
      const otherMessage = message.slice()
      otherMessage[0]! ^= 0x80
      expect(await verdicts(signature, otherMessage, raw, publicKey)).toEqual([false, false, false, false])
    }
  })

  it('refuses S + L on every path (node:crypto alone refuses it too)', async () => {
    const message = new Uint8Array(randomBytes(32))
    const signature = new Uint8Array(sign(null, message, privateKey))
    const malleated = new Uint8Array([...signature.subarray(0, 32), ...le32(le(signature.subarray(32)) + L)])
    expect(nodeVerify(null, message, publicKey, malleated)).toBe(false)
    expect(await verdicts(malleated, message, raw, publicKey)).toEqual([false, false, false, false])
  })

  it('refuses every small-order key encoding, with either sign bit, and non-canonical y ≥ p', () => {
    const encodings = [
      '0000000000000000000000000000000000000000000000000000000000000000', '0100000000000000000000000000000000000000000000000000000000000000',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
    ]
    for (const hex of encodings) {
      for (const signBit of [0, 0x80]) {
        const key = Uint8Array.from(Buffer.from(hex, 'hex'))
        key[31]! |= signBit
        expect(vetPublicKey(key)).toBeUndefined()
      }
    }
    // y = p + 2 … p + 18: not canonical whatever point they would alias.
    for (let extra = 2n; extra <= 18n; extra++) expect(vetPublicKey(le32(2n ** 255n - 19n + extra))).toBeUndefined()
    expect(vetPublicKey(raw)).toBeDefined()
  })

  it('refuses a small-order R whatever S, on every path', async () => {
    const message = new Uint8Array(randomBytes(16))
    for (const r of ['0100000000000000000000000000000000000000000000000000000000000000', 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f']) {
      const signature = new Uint8Array([...Buffer.from(r, 'hex'), ...le32(12345n)])
      expect(signatureShapeOk(signature)).toBe(false)
      expect(await verdicts(signature, message, raw, publicKey)).toEqual([false, false, false, false])
    }
  })
})
