/**
 * @phase-network/sdk — submit WebAssembly jobs to a Phase node and verify their signed receipts.
 *
 *   const client = new PhaseClient({ address: 'unix:/home/me/.local/state/phase/run/plasmd.sock' })
 *   const r = await client.run('hello.wasm', ['Hello, World'], { trustNode: true })
 *   r.verification.verified  // true: signature, key, job id, nonce, module, inputs, outputs
 *
 * `verify` and `manifest` are portable: in a browser import `@phase-network/sdk/verify` and
 * `@phase-network/sdk/manifest` (this entry also loads `PhaseClient`, which needs Node.js: gRPC).
 */
export { PhaseClient, readInputFile } from './client.ts'
export type { OutputFile } from './client.ts'
export type { PhaseClientInit, SubmitOptions, SubmitResult, ReplicaResult, Verification } from './client.ts'
export { manifest, ManifestBuilder, jobIdOf } from './manifest.ts'
export { verify } from './verify.ts'
export type { VerifyOptions } from './verify.ts'
export { verifyOutputs, outputDigests } from '@phase-network/protocol'
export type { OutputFiles, OutputFileEvidence } from '@phase-network/protocol'
export { PhaseError, VerificationError, isPhaseError } from '@phase-network/protocol'
export type { ErrorCode } from '@phase-network/protocol'
export type { Manifest } from '@phase-network/protocol'
export type { Receipt } from '@phase-network/protocol'
