/**
 * @phase-network/sdk — submit WebAssembly jobs to a Phase node and verify their signed receipts.
 *
 *   const client = new PhaseClient({ address: 'unix:/home/me/.local/state/phase/run/plasmd.sock' })
 *   const r = await client.run('hello.wasm', ['Hello, World'], { trustNode: true })
 *   r.verification.verified  // true: signature, key, job id, nonce, module, inputs, outputs
 *
 * `verify` and `manifest` are portable (browser-safe: import `@phase-network/sdk/verify` and
 * `@phase-network/sdk/manifest` there); `PhaseClient` and `localNode` need
 * Node.js (gRPC, files). The JSON faces (`jobOutcomeJson`, `nodeInfoJson`, `nodeStatusJson`)
 * are the ones the node's HTTP API answers, so a client prints what curl would show.
 * A node's receipt log is checked with `@phase-network/sdk/receipt-log`.
 */
export { PhaseClient, readInputFile } from './client.ts'
export type { OutputFile } from './client.ts'
export type { PhaseClientInit, SubmitOptions, SubmitProgress, SubmitResult, ReplicaResult, Verification, DoctorReport } from './client.ts'
export { localNode, DEFAULT_NODE_CONFIG } from './local-node.ts'
export type { LocalNode, LocalNodeOptions } from './local-node.ts'
export { manifest, ManifestBuilder } from './manifest.ts'
export { verify } from './verify.ts'
export type { VerifyOptions } from './verify.ts'
export { verifyOutputs, outputDigests } from '@phase-network/protocol'
export type { OutputFiles, OutputFileEvidence } from '@phase-network/protocol'
export { PhaseError, VerificationError, isPhaseError } from '@phase-network/protocol'
export type { ErrorCode } from '@phase-network/protocol'
export { parseManifest, jobIdOf, inputsHashOf } from '@phase-network/protocol'
export type { Manifest, ExpectedJob } from '@phase-network/protocol'
export { MAX_RECEIPT_BYTES } from '@phase-network/protocol'
export type { Receipt } from '@phase-network/protocol'
export { canonicalBytes, contentHash, hexToBytes } from '@phase-network/protocol'
export { jobOutcomeJson } from '@phase-network/protocol/node'
export { nodeInfoJson, nodeStatusJson } from '@phase-network/rpc'
