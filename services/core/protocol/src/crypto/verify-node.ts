/**
 * The node's own receipt verifier (checks on receipts coming back from remote peers): the same
 * checks as verify.ts, with node:crypto for the signature (≈12× @noble/ed25519, FACTS),
 * synchronously. Node-only.
 *
 * Every Phase verifier follows libsodium's rule (ed25519.ts). OpenSSL checks S < L and compares
 * R's encoding but accepts small-order and non-canonical keys and small-order R: the key is
 * vetted once (strict decoding, not small order) and the signature's shape checked first.
 */
import { checkAfterSignature, checkBeforeSignature, type VerifiedReceipt, type VerifyExpectations } from './checks.ts'
import { signatureShapeOk, vetPublicKey } from './ed25519.ts'
import { nativeEd25519 } from './ed25519-native.ts'

/** Verifies a receipt (its exact bytes or text) against what the caller expects, synchronously. */
export function verifyReceiptNode (input: Uint8Array | string, expect: VerifyExpectations): VerifiedReceipt {
  const pending = checkBeforeSignature(input, expect)
  const valid = vetPublicKey(pending.publicKey, expect.publicKey) !== undefined && signatureShapeOk(pending.signature) &&
    nativeEd25519!.verify(pending.signature, pending.message, pending.publicKey, expect.publicKey)
  return checkAfterSignature(pending, valid, expect)
}
