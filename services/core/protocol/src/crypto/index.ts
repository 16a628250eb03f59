/**
 * Signatures of Phase documents: Ed25519 over `domain-prefix || JCS(document without its
 * signature)`, and receipt verification that checks more than the signature (key, job, outputs).
 * This door is portable; the node-only parts — `sign.ts` (signing), `keys.ts` (KeyObjects) and
 * `verify-node.ts` (node:crypto verifier) — are imported by path, so a browser bundle never
 * pulls in node:crypto.
 */
export { verifyReceipt, verifyReceiptSync, verifyOutputs, outputDigests, CHECK_ORDER } from './verify.ts'
export type { VerifyExpectations, VerifiedReceipt, ExpectedJob, CheckName, OutputFiles, OutputFileEvidence } from './verify.ts'
export { RECEIPT_DOMAIN, CAPABILITY_DOMAIN, signingBytes } from './domain.ts'
export { bytesToHex, hexToBytes } from './hex.ts'
