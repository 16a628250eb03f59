/**
 * The node's own receipt verifier (checks on receipts coming back from remote peers): the same
 * checks as verify.ts, with node:crypto for the signature (≈12× faster, FACTS). Node-only.
 *
 * The portable verifier follows RFC 8032 strictly, like libsodium (PHP SDK): it refuses
 * non-canonical and small-order public keys. OpenSSL's rules for odd key encodings are its own,
 * so each new key is vetted once with @noble/ed25519's strict decoding: both always agree.
 */
import { verify, type KeyObject } from 'node:crypto'
import { Point } from '@noble/ed25519'
import { checkAfterSignature, checkBeforeSignature, type VerifiedReceipt, type VerifyExpectations } from './checks.ts'
import { publicKeyFromHex } from './keys.ts'

/** Verified keys by hex (undefined: not a usable key). Bounded: a node talks to few keys at once. */
const keys = new Map<string, KeyObject | undefined>()
const MAX_CACHED_KEYS = 1024

/** Verifies a receipt (its exact bytes or text) against what the caller expects, synchronously. */
export function verifyReceiptNode (input: Uint8Array | string, expect: VerifyExpectations): VerifiedReceipt {
  const pending = checkBeforeSignature(input, expect)
  const key = keyObject(expect.publicKey)
  let valid = false
  try {
    valid = key !== undefined && verify(null, pending.message, key, pending.signature)
  } catch {
    valid = false
  }
  return checkAfterSignature(pending, valid, expect)
}

function keyObject (hex: string): KeyObject | undefined {
  if (keys.has(hex)) return keys.get(hex)
  let key: KeyObject | undefined
  try {
    key = Point.fromHex(hex, false).isSmallOrder() ? undefined : publicKeyFromHex(hex)
  } catch {
    key = undefined
  }
  if (keys.size >= MAX_CACHED_KEYS) keys.delete(keys.keys().next().value!)
  keys.set(hex, key)
  return key
}
