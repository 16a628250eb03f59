/**
 * The node's own receipt verifier (checks on receipts coming back from remote peers): the same
 * checks as verify.ts, with node:crypto for the signature (≈12× @noble/ed25519, FACTS). Node-only.
 *
 * Every Phase verifier follows libsodium's rule (ed25519.ts). OpenSSL checks S < L and compares
 * R's encoding but accepts small-order and non-canonical keys and small-order R: the key is
 * vetted once (strict decoding, not small order) and the signature's shape checked first.
 */
import { verify, createPublicKey, type KeyObject } from 'node:crypto'
import { checkAfterSignature, checkBeforeSignature, type VerifiedReceipt, type VerifyExpectations } from './checks.ts'
import { signatureShapeOk, vetPublicKey } from './ed25519.ts'
import { outputDigests } from './output-files.ts'
import { contentHash } from '../hash-node.ts'

/** DER of an SPKI Ed25519 public key, up to its 32 raw bytes (RFC 8410). */
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/** KeyObjects of vetted keys by hex. Bounded: a node talks to few keys at once. */
const keys = new Map<string, KeyObject>()
const MAX_CACHED_KEYS = 1024

/** Verifies a receipt (its exact bytes or text) against what the caller expects, synchronously. */
export function verifyReceiptNode (input: Uint8Array | string, expect: VerifyExpectations): VerifiedReceipt {
  expect = withNodeDigests(expect)
  const pending = checkBeforeSignature(input, expect)
  let valid = false
  if (vetPublicKey(pending.publicKey, expect.publicKey) !== undefined && signatureShapeOk(pending.signature)) {
    try {
      valid = verify(null, pending.message, keyObject(expect.publicKey, pending.publicKey), pending.signature)
    } catch {
      valid = false
    }
  }
  return checkAfterSignature(pending, valid, expect)
}

function keyObject (hex: string, raw: Uint8Array): KeyObject {
  let key = keys.get(hex)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
    if (keys.size >= MAX_CACHED_KEYS) keys.delete(keys.keys().next().value!)
    keys.set(hex, key)
  }
  return key
}

/** Output files hashed with node:crypto (the portable SHA-256 is several times slower on large files). */
function withNodeDigests (expect: VerifyExpectations): VerifyExpectations {
  const files = expect?.outputs?.files
  if (files === undefined) return expect
  return { ...expect, outputs: { ...expect.outputs, files: outputDigests(files, contentHash) } }
}
