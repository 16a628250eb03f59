/**
 * The one Ed25519 rule of every Phase verifier (libsodium's): the WebCrypto path, the pure-JS
 * path and node:crypto behind the same pre-checks agree on valid signatures, on tampered ones,
 * and on the encodings where libraries differ (small-order and non-canonical keys, S ≥ L,
 * small-order R).
 */
import { describe, it, expect } from '@jest/globals'
import { generateKeyPairSync, randomBytes, sign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { signatureShapeOk, usingWebCrypto, verifyEd25519, verifyEd25519Sync, vetPublicKey } from '../../services/core/src/crypto/ed25519.ts'

const rawPublic = (key: KeyObject): Uint8Array => new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(12))
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const le32 = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))
const le = (bytes: Uint8Array): bigint => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n)

/** All three paths' verdicts on one signature; node:crypto only when the pre-checks pass, as verify-node.ts does. */
async function verdicts (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, nodeKey?: KeyObject): Promise<boolean[]> {
  const pre = vetPublicKey(publicKey) !== undefined && signatureShapeOk(signature)
  let node = false
  try { node = pre && nodeVerify(null, message, nodeKey!, signature) } catch { node = false }
  return [await verifyEd25519(signature, message, publicKey), verifyEd25519Sync(signature, message, publicKey), node]
}

describe('verifyEd25519', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = rawPublic(publicKey)

  it('uses WebCrypto on this Node', async () => {
    const message = randomBytes(40)
    expect(await verifyEd25519(new Uint8Array(sign(null, message, privateKey)), message, raw)).toBe(true)
    expect(usingWebCrypto()).toBe(true)
  })

  it('gives the same answer on every path for valid and tampered signatures', async () => {
    for (let i = 0; i < 40; i++) {
      const message = new Uint8Array(randomBytes(1 + i * 7))
      const signature = new Uint8Array(sign(null, message, privateKey))
      expect(await verdicts(signature, message, raw, publicKey)).toEqual([true, true, true])
      const bad = signature.slice()
      bad[i % 64]! ^= 1 << (i % 8)
      expect(await verdicts(bad, message, raw, publicKey)).toEqual([false, false, false])
      const otherMessage = message.slice()
      otherMessage[0]! ^= 0x80
      expect(await verdicts(signature, otherMessage, raw, publicKey)).toEqual([false, false, false])
    }
  })

  it('refuses S + L on every path (node:crypto alone refuses it too)', async () => {
    const message = new Uint8Array(randomBytes(32))
    const signature = new Uint8Array(sign(null, message, privateKey))
    const malleated = new Uint8Array([...signature.subarray(0, 32), ...le32(le(signature.subarray(32)) + L)])
    expect(nodeVerify(null, message, publicKey, malleated)).toBe(false)
    expect(await verdicts(malleated, message, raw, publicKey)).toEqual([false, false, false])
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
      expect(await verdicts(signature, message, raw, publicKey)).toEqual([false, false, false])
    }
  })
})
