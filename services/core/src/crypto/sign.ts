/**
 * Signing with node:crypto (≈10× @noble/ed25519; identical signatures, RFC 8032 is
 * deterministic). Node-only: used by the signer process and test-vector generation.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto'
import { canonicalBytes } from '../canonical.ts'
import { validateUnsignedReceipt, type Receipt, type UnsignedReceipt } from '../documents/receipt.ts'
import { RECEIPT_DOMAIN, signingBytes } from './domain.ts'

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** A node:crypto private key from a raw 32-byte Ed25519 seed. */
export function privateKeyFromSeed (seed: Uint8Array): KeyObject {
  if (seed.byteLength !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

/** The raw public key (64 lowercase hex) of a private key. */
export function publicKeyHex (key: KeyObject): string {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  return spki.subarray(spki.length - 32).toString('hex')
}

/** Signs `domain || JCS(doc without signature)`; returns 128 lowercase hex. */
export function signDocument (domain: string, doc: object, key: KeyObject): string {
  return sign(null, signingBytes(domain, doc), key).toString('hex')
}

export interface ReceiptSigner {
  /** Raw public key, 64 lowercase hex. */
  readonly publicKey: string
  /** Signs a schema-valid unsigned receipt; returns it signed, and its canonical JSON bytes. */
  sign: (unsigned: UnsignedReceipt) => { receipt: Receipt, canonical: Uint8Array }
}

export function createReceiptSigner (seed: Uint8Array): ReceiptSigner {
  const key = privateKeyFromSeed(seed)
  const publicKey = publicKeyHex(key)
  return {
    publicKey,
    sign (unsigned) {
      const valid = validateUnsignedReceipt(unsigned)
      const receipt: Receipt = { ...valid, signature: signDocument(RECEIPT_DOMAIN, valid, key) }
      return { receipt, canonical: canonicalBytes(receipt) }
    }
  }
}
