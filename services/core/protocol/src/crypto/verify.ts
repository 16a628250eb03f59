/**
 * Receipt verification — portable (WebCrypto, or @noble/ed25519 + @noble/hashes; no Node-only APIs), for the
 * CLI, the SDKs and browsers. Takes the receipt's exact bytes (or text) as received — a parsed
 * object is refused — and throws VerificationError whose `check` names the first that failed,
 * in this order (checks.ts): 'format' | 'canonical' | 'key' | 'peer_id' | 'signature' |
 * 'job_id' | 'nonce' | 'module_hash' | 'inputs_hash' | 'stdout_hash' | 'stderr_hash' | 'outputs'.
 */
import { checkAfterSignature, checkBeforeSignature, type VerifiedReceipt, type VerifyExpectations } from './checks.ts'
import { verifyEd25519, verifyEd25519Sync } from './ed25519.ts'

export type { ExpectedJob, VerifyExpectations, VerifiedReceipt, CheckName } from './checks.ts'
export { CHECK_ORDER } from './checks.ts'
export { verifyOutputs, outputDigests } from './output-files.ts'
export type { OutputFiles, OutputFileEvidence } from './output-files.ts'

/**
 * Verifies a receipt (its exact bytes or text) against what the caller expects. The signature
 * is checked on WebCrypto's Ed25519 where the platform has it, else in pure JS — with the same
 * rule either way, libsodium's (ed25519.ts), so every verifier gives the same answer.
 */
export async function verifyReceipt (input: Uint8Array | string, expect: VerifyExpectations): Promise<VerifiedReceipt> {
  const pending = checkBeforeSignature(input, expect)
  const valid = await verifyEd25519(pending.signature, pending.message, pending.publicKey, expect.publicKey)
  return checkAfterSignature(pending, valid, expect)
}

/** Same checks, synchronously (pure JS: @noble/ed25519 points, @noble/hashes SHA-512; no WebCrypto needed). */
export function verifyReceiptSync (input: Uint8Array | string, expect: VerifyExpectations): VerifiedReceipt {
  const pending = checkBeforeSignature(input, expect)
  return checkAfterSignature(pending, verifyEd25519Sync(pending.signature, pending.message, pending.publicKey, expect.publicKey), expect)
}
