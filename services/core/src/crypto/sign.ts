/**
 * Signing with node:crypto (≈10× @noble/ed25519, FACTS; identical signatures, RFC 8032 is
 * deterministic). Node-only: used by the signer process and the test-vector generator.
 */
import { sign, type KeyObject } from 'node:crypto'
import { canonicalBytes } from '../canonical.ts'
import { validateUnsignedReceipt, type Receipt, type UnsignedReceipt } from '../documents/receipt.ts'
import { InvalidReceiptError } from '../errors.ts'
import { RECEIPT_DOMAIN, signingBytes } from './domain.ts'
import { bytesToHex } from './hex.ts'
import { publicKeyHex, toPrivateKey } from './keys.ts'

/** Signs `domain || JCS(doc without signature)`; returns 128 lowercase hex. No schema check: callers own that. */
export function signDocument (domain: string, doc: object, key: KeyObject): string {
  return bytesToHex(sign(null, signingBytes(domain, doc), key))
}

export interface ReceiptSigner {
  /** Raw public key, 64 lowercase hex. */
  readonly publicKey: string
  /**
   * Signs a schema-valid unsigned receipt that names this signer's key; returns it signed and
   * its canonical JSON bytes (what goes on the wire). Throws InvalidReceiptError otherwise.
   */
  sign: (unsigned: UnsignedReceipt) => { receipt: Receipt, canonical: Uint8Array }
}

/** A receipt signer over one private key (a KeyObject, or a raw 32-byte seed). */
export function createReceiptSigner (privateKey: KeyObject | Uint8Array): ReceiptSigner {
  const key = toPrivateKey(privateKey)
  const publicKey = publicKeyHex(key)
  return {
    publicKey,
    sign (unsigned) {
      const valid = validateUnsignedReceipt(unsigned)
      // A receipt naming another key would never verify; refuse it here rather than sign it.
      if (valid.node.public_key !== publicKey) {
        throw new InvalidReceiptError('receipt names another public key; this signer signs only its own receipts')
      }
      const receipt: Receipt = { ...valid, signature: signDocument(RECEIPT_DOMAIN, valid, key) }
      return { receipt, canonical: canonicalBytes(receipt) }
    }
  }
}
