/**
 * Receipt verification — portable (@noble/ed25519, no Node-only APIs), used by the node, the
 * CLI and the SDKs. "The signature is valid" is not "I trust this result": it checks the format,
 * that the key is the one the caller expected, the signature, the job (id, nonce, module, inputs)
 * and the output bytes (DESIGN §3, Trust). Throws VerificationError naming the failed check.
 */
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { contentHash } from '../hash.ts'
import { parseReceipt, type Receipt } from '../documents/receipt.ts'
import { VerificationError, isPhaseError } from '../errors.ts'
import { RECEIPT_DOMAIN, signingBytes, hexToBytes } from './domain.ts'

ed.hashes.sha512 = sha512

export interface ExpectedJob {
  jobId?: string
  nonce?: string
  moduleHash?: string
  inputsHash?: string
}

export interface VerifyExpectations {
  /** Required: the receipt key the verifier expects (pinned, or bound to the PeerId it dialed). */
  publicKey: string
  /** When given, the receipt must name this node identity. */
  peerId?: string
  /** When given, each field must match the job the verifier sent. */
  job?: ExpectedJob
  /** When given, the output bytes the verifier received must match the receipt's hashes. */
  outputs?: { stdout?: Uint8Array, stderr?: Uint8Array }
}

export interface VerifiedReceipt {
  receipt: Receipt
  /** What was checked, human-readable, in order. */
  checks: string[]
}

export async function verifyReceipt (input: unknown, expect: VerifyExpectations): Promise<VerifiedReceipt> {
  const key = hexToBytes(expect?.publicKey, 32)
  if (key === undefined) throw new VerificationError('key', 'an expected public key (64 lowercase hex) is required to verify a receipt')
  let receipt: Receipt
  try {
    receipt = parseReceipt(input)
  } catch (err) {
    if (isPhaseError(err)) throw new VerificationError('format', err.message)
    throw err
  }
  const checks: string[] = [`format (receipt v${receipt.version}, schema-valid)`]
  if (receipt.node.public_key !== expect.publicKey) {
    throw new VerificationError('key', `receipt is signed for key ${receipt.node.public_key.slice(0, 16)}…, expected ${expect.publicKey.slice(0, 16)}…`)
  }
  checks.push(`key matches the expected key ${expect.publicKey.slice(0, 16)}…`)
  if (expect.peerId !== undefined) {
    if (receipt.node.peer_id !== expect.peerId) throw new VerificationError('peer_id', `receipt names node ${receipt.node.peer_id}, expected ${expect.peerId}`)
    checks.push(`node identity ${expect.peerId}`)
  }
  const signature = hexToBytes(receipt.signature, 64)!
  let valid = false
  try {
    valid = await ed.verifyAsync(signature, signingBytes(RECEIPT_DOMAIN, receipt), key)
  } catch {
    valid = false
  }
  if (!valid) throw new VerificationError('signature', 'the Ed25519 signature does not match the receipt and key')
  checks.push('signature (ed25519 over phase-receipt:v1 canonical JSON)')
  const job = expect.job ?? {}
  const fields: Array<[keyof ExpectedJob, keyof Receipt & string, string]> = [
    ['jobId', 'job_id', 'job id'], ['nonce', 'nonce', 'nonce'], ['moduleHash', 'module_hash', 'module hash'], ['inputsHash', 'inputs_hash', 'inputs hash']
  ]
  for (const [want, field, label] of fields) {
    const expected = job[want]
    if (expected === undefined) continue
    if (receipt[field] !== expected) throw new VerificationError(field, `${label} is ${String(receipt[field])}, expected ${expected}`)
    checks.push(`${label} matches the job sent`)
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const bytes = expect.outputs?.[stream]
    if (bytes === undefined) continue
    if (bytes.byteLength !== receipt[`${stream}_bytes`] || contentHash(bytes) !== receipt[`${stream}_hash`]) {
      throw new VerificationError(`${stream}_hash`, `the ${bytes.byteLength} ${stream} bytes received do not match the receipt's ${stream} hash`)
    }
    checks.push(`${stream} hash (${bytes.byteLength} bytes)`)
  }
  return { receipt, checks }
}
