/**
 * Receipt verification — portable (@noble/ed25519 + @noble/hashes, no Node-only APIs), for the
 * CLI, the SDKs and browsers. Takes the receipt's exact bytes (or text) as received — a parsed
 * object is refused — and throws VerificationError whose `check` names the first that failed,
 * in this order (checks.ts): 'format' | 'canonical' | 'key' | 'peer_id' | 'signature' |
 * 'job_id' | 'nonce' | 'module_hash' | 'inputs_hash' | 'stdout_hash' | 'stderr_hash'.
 */
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { checkAfterSignature, checkBeforeSignature, type VerifiedReceipt, type VerifyExpectations } from './checks.ts'

// Lets the sync API work without WebCrypto (same hash either way).
ed.hashes.sha512 ??= sha512

/**
 * RFC 8032 strict verification (not ZIP-215): non-canonical encodings and small-order keys are
 * refused, as libsodium (the PHP SDK) does, so every verifier gives the same answer.
 */
const STRICT = { zip215: false } as const

export type { ExpectedJob, VerifyExpectations, VerifiedReceipt, CheckName } from './checks.ts'
export { CHECK_ORDER } from './checks.ts'

/** Verifies a receipt (its exact bytes or text) against what the caller expects. */
export async function verifyReceipt (input: Uint8Array | string, expect: VerifyExpectations): Promise<VerifiedReceipt> {
  const pending = checkBeforeSignature(input, expect)
  let valid: boolean
  try {
    valid = await ed.verifyAsync(pending.signature, pending.message, pending.publicKey, STRICT)
  } catch {
    valid = false
  }
  return checkAfterSignature(pending, valid, expect)
}

/** Same checks, synchronously (pure JS SHA-512; no WebCrypto needed). */
export function verifyReceiptSync (input: Uint8Array | string, expect: VerifyExpectations): VerifiedReceipt {
  const pending = checkBeforeSignature(input, expect)
  let valid: boolean
  try {
    valid = ed.verify(pending.signature, pending.message, pending.publicKey, STRICT)
  } catch {
    valid = false
  }
  return checkAfterSignature(pending, valid, expect)
}
