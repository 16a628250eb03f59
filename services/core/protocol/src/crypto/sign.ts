/**
 * Signing with node:crypto (≈10× @noble/ed25519, FACTS; identical signatures, RFC 8032 is
 * deterministic). Node-only: used by the signer process and the test-vector generator.
 */
import { sign, type KeyObject } from 'node:crypto'
import { canonicalize } from '../canonical.ts'
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
      // JCS once: the signed bytes are its text, and the signed receipt's JCS is that text with
      // the signature member put in its sorted place (validateUnsignedReceipt refused one already).
      const body = canonicalize(valid)
      const signature = bytesToHex(sign(null, encoder.encode(RECEIPT_DOMAIN + body), key))
      const receipt: Receipt = { ...valid, signature }
      return { receipt, canonical: encoder.encode(withMember(body, 'signature', JSON.stringify(signature))) }
    }
  }
}

const encoder = new TextEncoder()

/**
 * The JCS text of an object given as JCS text, with one more member `name` (absent from it):
 * RFC 8785 orders members by their names' UTF-16 code units, so the new one goes right before
 * the first top-level name that sorts after it, or last. A name is a string that opens the
 * object or follows a comma at depth 1 (values follow a colon; array elements are deeper).
 */
export function withMember (canonical: string, name: string, valueJson: string): string {
  const member = `${JSON.stringify(name)}:${valueJson}`
  let depth = 0
  for (let i = 0; i < canonical.length; i++) {
    const c = canonical.charCodeAt(i)
    if (c === 0x22) { // a string: find its end, skipping escapes
      const start = i
      for (i++; i < canonical.length && canonical.charCodeAt(i) !== 0x22; i++) {
        if (canonical.charCodeAt(i) === 0x5c) i++
      }
      const before = canonical.charCodeAt(start - 1)
      if (depth === 1 && (before === 0x7b || before === 0x2c) && (JSON.parse(canonical.slice(start, i + 1)) as string) > name) {
        return `${canonical.slice(0, start)}${member},${canonical.slice(start)}`
      }
    } else if (c === 0x7b || c === 0x5b) {
      depth++
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return canonical === '{}' ? `{${member}}` : `${canonical.slice(0, -1)},${member}}`
}
