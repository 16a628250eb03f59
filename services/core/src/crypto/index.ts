/**
 * Signatures of Phase documents: Ed25519 over `domain-prefix || JCS(document)`. `verify.ts` and
 * `domain.ts` are portable; `sign.ts` uses node:crypto and is for the node only.
 */
export { verifyReceipt } from './verify.ts'
export type { VerifyExpectations, VerifiedReceipt, ExpectedJob } from './verify.ts'
export { RECEIPT_DOMAIN, CAPABILITY_DOMAIN, signingBytes } from './domain.ts'
