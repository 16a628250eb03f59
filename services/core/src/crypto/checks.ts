/**
 * The checks of receipt verification, in their fixed order — format → key → peer id →
 * signature → job (id, nonce, module, inputs) → outputs — split around the signature so the
 * portable verifier (@noble/ed25519) and the node's fast one (node:crypto) share everything
 * else. "The signature is valid" is not "I trust this result" (DESIGN §3, Trust). Portable.
 */
import { parseReceipt, type Receipt } from '../documents/receipt.ts'
import { VerificationError, isPhaseError } from '../errors.ts'
import { contentHash } from '../hash.ts'
import { RECEIPT_DOMAIN, signingBytes } from './domain.ts'
import { hexToBytes } from './hex.ts'

export interface ExpectedJob {
  jobId?: string
  nonce?: string
  moduleHash?: string
  inputsHash?: string
}

export interface VerifyExpectations {
  /** Required: the receipt key the verifier expects (pinned, or bound to the PeerId it dialed), 64 lowercase hex. */
  publicKey: string
  /** When given, the receipt must name this node identity. */
  peerId?: string
  /** When given, each field must match the job the verifier sent. */
  job?: ExpectedJob
  /** When given, the output bytes the verifier received must match the receipt's hashes and sizes. */
  outputs?: { stdout?: Uint8Array, stderr?: Uint8Array }
}

export interface VerifiedReceipt {
  receipt: Receipt
  /** What was checked, human-readable, in order. */
  checks: string[]
}

/** What the signature check needs: raw key, raw signature and the signed bytes. */
export interface PendingSignature {
  receipt: Receipt
  publicKey: Uint8Array
  signature: Uint8Array
  message: Uint8Array
  checks: string[]
}

/** Checks that come before the signature: the expected key is usable, format, key, peer id. */
export function checkBeforeSignature (input: unknown, expect: VerifyExpectations): PendingSignature {
  const publicKey = hexToBytes(expect?.publicKey, 32)
  if (publicKey === undefined) {
    throw new VerificationError('key', 'an expected public key (64 lowercase hex) is required to verify a receipt')
  }
  let receipt: Receipt
  try {
    receipt = parseReceipt(input)
  } catch (err) {
    if (isPhaseError(err)) throw new VerificationError('format', err.message)
    throw err
  }
  const checks = [`format (receipt v${receipt.version})`]
  if (receipt.node.public_key !== expect.publicKey) {
    throw new VerificationError('key', `receipt names key ${short(receipt.node.public_key)}, expected ${short(expect.publicKey)}`)
  }
  checks.push(`key matches expected ${short(expect.publicKey)}`)
  if (expect.peerId !== undefined) {
    if (receipt.node.peer_id !== expect.peerId) {
      throw new VerificationError('peer_id', `receipt names node ${receipt.node.peer_id}, expected ${String(expect.peerId).slice(0, 100)}`)
    }
    checks.push(`peer id ${expect.peerId}`)
  }
  // The schema pinned the signature to 128 lowercase hex, so this cannot be undefined.
  const signature = hexToBytes(receipt.signature, 64)!
  return { receipt, publicKey, signature, message: signingBytes(RECEIPT_DOMAIN, receipt), checks }
}

const JOB_FIELDS = [
  ['jobId', 'job_id', 'job id'],
  ['nonce', 'nonce', 'nonce'],
  ['moduleHash', 'module_hash', 'module hash'],
  ['inputsHash', 'inputs_hash', 'inputs hash']
] as const

/** The signature's verdict, then the checks that come after it: the job, then the outputs. */
export function checkAfterSignature (pending: PendingSignature, signatureValid: boolean, expect: VerifyExpectations): VerifiedReceipt {
  const { receipt, checks } = pending
  if (!signatureValid) throw new VerificationError('signature', 'the Ed25519 signature does not match the receipt and key')
  checks.push('signature (ed25519, phase-receipt:v1)')
  for (const [want, field, label] of JOB_FIELDS) {
    const expected = expect.job?.[want]
    if (expected === undefined) continue
    if (receipt[field] !== expected) {
      throw new VerificationError(field, `${label} is ${receipt[field]}, expected ${String(expected).slice(0, 100)}`)
    }
    checks.push(label)
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const bytes = expect.outputs?.[stream]
    if (bytes === undefined) continue
    const size = receipt[`${stream}_bytes`]
    if (bytes.byteLength !== size) {
      throw new VerificationError(`${stream}_hash`, `received ${bytes.byteLength} ${stream} bytes, the receipt says ${size}`)
    }
    if (contentHash(bytes) !== receipt[`${stream}_hash`]) {
      throw new VerificationError(`${stream}_hash`, `the ${stream} bytes received do not match the receipt's ${stream} hash`)
    }
    checks.push(`${stream} hash (${size} bytes)`)
  }
  return { receipt, checks }
}

/** First 8 hex digits of a key, enough to tell keys apart in a message. */
function short (key: string): string {
  return `${String(key).slice(0, 8)}…`
}
