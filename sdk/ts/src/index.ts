/**
 * @phase-network/sdk — submit WebAssembly jobs to a Phase node and verify their signed receipts.
 *
 *   const client = new PhaseClient({ address: 'unix:/home/me/.local/state/phase/run/plasmd.sock' })
 *   const r = await client.run('hello.wasm', ['Hello, World'], { trustNode: true })
 *   r.verification.verified  // true: signature, key, job id, nonce, module, inputs, outputs
 *
 * `verify` and `manifest` are portable (browser-safe); `PhaseClient` needs Node.js (gRPC).
 */
export { PhaseClient } from './client.ts'
export type { PhaseClientInit, SubmitOptions, SubmitResult, ReplicaResult, Verification } from './client.ts'
export { manifest, ManifestBuilder } from './manifest.ts'
export { verify } from './verify.ts'
export type { VerifyOptions } from './verify.ts'
export { verifyOutputs, outputDigests } from '../../../services/core/src/crypto/output-files.ts'
export type { OutputFiles, OutputFileEvidence } from '../../../services/core/src/crypto/output-files.ts'
export { PhaseError, VerificationError, isPhaseError } from '../../../services/core/src/errors.ts'
export type { ErrorCode } from '../../../services/core/src/errors.ts'
export type { Manifest } from '../../../services/core/src/documents/manifest.ts'
export type { Receipt } from '../../../services/core/src/documents/receipt.ts'
