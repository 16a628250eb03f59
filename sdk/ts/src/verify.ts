/**
 * Receipt verification for SDK users — portable (no Node-only APIs). A receipt counts as
 * verified only against a key the caller expects: pinned (`expectedKey`), or bound to the PeerId
 * the caller expects by that peer's signed capability record (`expectedPeerId` + `capability`).
 * Receipt and record are verified on their exact bytes (or text) as received — `receiptJson`
 * and `capabilityJson` — never on a parsed object, which nothing could tie to the signed bytes.
 * A failure names its check, in the order format, canonical, key, peer_id, signature, job_id,
 * nonce, module_hash, inputs_hash, stdout_hash, stderr_hash, outputs (capability: format,
 * canonical, peer_id, signature, expired). `outputs` is the check of the files the job wrote
 * under /out: pass them as `outputs.files` (or call `verifyOutputs` on the verified receipt).
 */
import { verifyReceipt, type VerifiedReceipt, type ExpectedJob, type OutputFiles } from '@phase-network/protocol'
import { verifyCapability } from '@phase-network/protocol'
import { jobIdOf, inputsHashOf, type Manifest } from '@phase-network/protocol'
import { VerificationError } from '@phase-network/protocol'

export interface VerifyOptions {
  /** The receipt key you trust (64 hex), e.g. from `phase node key` of your own node. */
  expectedKey?: string
  /** The node you expect; its key is taken from `capability`, which must be signed by it. */
  expectedPeerId?: string
  /** The capability record that binds `expectedPeerId` to its receipt key: its exact bytes or text (`capabilityJson`). */
  capability?: Uint8Array | string
  /** The job you sent: job id, nonce, module and inputs are checked against it. */
  job?: Manifest
  /** Or the expected fields themselves (when you hold the ids, not the manifest). */
  expectJob?: ExpectedJob
  /**
   * The output bytes you received; `files`: the files the job wrote, by guest path
   * (`/out/<rel>`) — they must be exactly the receipt's `outputs` (none missing, none extra).
   */
  outputs?: { stdout?: Uint8Array, stderr?: Uint8Array, files?: OutputFiles }
}

/** Verifies a receipt given as the exact bytes (or text) received. */
export async function verify (receipt: Uint8Array | string, options: VerifyOptions): Promise<VerifiedReceipt> {
  let key = options.expectedKey
  const checks: string[] = []
  if (options.expectedPeerId !== undefined && options.capability === undefined && key === undefined) {
    throw new VerificationError('key', 'expectedPeerId needs the capability record that binds it to a receipt key (or a pinned expectedKey)')
  }
  if (options.expectedPeerId !== undefined && options.capability !== undefined) {
    const record = await verifyCapability(options.capability, options.expectedPeerId)
    if (key !== undefined && key !== record.receipt_public_key) throw new VerificationError('key', 'the capability record binds another key than expectedKey')
    key = record.receipt_public_key
    checks.push(`receipt key bound to ${options.expectedPeerId} by its signed capability record`)
  }
  if (key === undefined) throw new VerificationError('key', 'an expected key or an expected PeerId is required to verify a receipt')
  const job = options.job
  const result = await verifyReceipt(receipt, {
    publicKey: key,
    peerId: options.expectedPeerId,
    job: job === undefined ? options.expectJob : { jobId: jobIdOf(job), nonce: job.nonce, moduleHash: job.module_hash, inputsHash: inputsHashOf(job) },
    outputs: options.outputs
  })
  return { receipt: result.receipt, checks: [...checks, ...result.checks] }
}
