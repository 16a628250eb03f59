/**
 * @phase-network/protocol/node — the Node-only half of the protocol: Ed25519 keys as node:crypto
 * KeyObjects, receipt signing, the node:crypto receipt verifier and content hasher (same answers
 * as the portable ones, several times faster), and the JSON face of a finished job.
 */
export { contentHash } from './hash-node.ts'
export * from './crypto/keys.ts'
export * from './crypto/sign.ts'
export * from './crypto/verify-node.ts'
export * from './job-json.ts'
