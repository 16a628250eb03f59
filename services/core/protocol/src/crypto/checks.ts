/**
 * The checks of receipt verification, in their fixed order — format → canonical → key →
 * peer id → signature → job (id, nonce, module, inputs) → stdout, stderr → output files — split around the signature
 * so the portable verifier (@noble/ed25519) and the node's fast one (node:crypto) share
 * everything else. "The signature is valid" is not "I trust this result" (DESIGN §3, Trust).
 *
 * A receipt is verified on the exact bytes received: `format` (UTF-8 JSON text of a receipt
 * v1), then `canonical` — the bytes are exactly RFC 8785 of the document they parse to,
 * signature member included (one trailing line feed tolerated): no BOM, whitespace, reordered
 * or repeated members, needless escapes, `17.0` or `1e1` for an integer. Only then is there one
 * reading of the receipt, the one that was signed. Portable.
 */
import { parseReceivedReceipt, type Receipt } from '../documents/receipt.ts'
import { canonicalViolation } from '../documents/received.ts'
import { VerificationError, isPhaseError } from '../errors.ts'
import { contentHash } from '../hash.ts'
import { RECEIPT_DOMAIN, signingBytes } from './domain.ts'
import { hexToBytes } from './hex.ts'
import { verifyOutputs, type OutputFiles } from './output-files.ts'

/** The failed-check names, in the order the checks run. */
export const CHECK_ORDER = ['format', 'canonical', 'key', 'peer_id', 'signature', 'job_id', 'nonce', 'module_hash', 'inputs_hash', 'stdout_hash', 'stderr_hash', 'outputs'] as const
export type CheckName = typeof CHECK_ORDER[number]

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
  /**
   * When given, the output bytes the verifier received must match the receipt's hashes and
   * sizes; `files` (the files received from /out) must be exactly the receipt's `outputs`.
   */
  outputs?: { stdout?: Uint8Array, stderr?: Uint8Array, files?: OutputFiles }
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

/**
 * Checks that come before the signature: the expected key is usable, format, canonical, key,
 * peer id. `input` is the receipt's exact bytes (or text); a parsed object is refused at
 * `format`, since nothing could prove it is what was signed.
 */
export function checkBeforeSignature (input: Uint8Array | string, expect: VerifyExpectations): PendingSignature {
  const publicKey = hexToBytes(expect?.publicKey, 32)
  if (publicKey === undefined) {
    throw new VerificationError('key', 'an expected public key (64 lowercase hex) is required to verify a receipt')
  }
  let receipt: Receipt
  let text: string
  try {
    ({ receipt, text } = parseReceivedReceipt(input))
  } catch (err) {
    if (isPhaseError(err)) throw new VerificationError('format', err.message)
    throw err
  }
  const violation = canonicalViolation(text, receipt)
  if (violation !== undefined) throw new VerificationError('canonical', `receipt is not in canonical form (RFC 8785): ${violation}`)
  const checks = [`format (receipt v${receipt.version})`, 'canonical (RFC 8785, exact bytes)']
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
  // The text is now the receipt's canonical JSON (but for a tolerated final line feed).
  const canonical = text.endsWith('\n') ? text.slice(0, -1) : text
  return { receipt, publicKey, signature, message: signedMessage(canonical, receipt), checks }
}

const encoder = new TextEncoder()

/**
 * `phase-receipt:v1:` || JCS(receipt without signature), cut from the receipt's canonical text:
 * JCS sorts "signature" between other members ("cpu_time_us" and "version" are required), so
 * it appears once as `,"signature":"<hex>"` — a string value cannot hold that sequence
 * unescaped, and the schema allows no nested "signature".
 */
function signedMessage (canonical: string, receipt: Receipt): Uint8Array {
  const member = `,"signature":"${receipt.signature}"`
  const at = canonical.indexOf(member)
  if (at < 0) return signingBytes(RECEIPT_DOMAIN, receipt)
  return encoder.encode(RECEIPT_DOMAIN + canonical.slice(0, at) + canonical.slice(at + member.length))
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
  const files = expect.outputs?.files
  if (files !== undefined) checks.push(verifyOutputs(receipt, files))
  return { receipt, checks }
}

/** First 8 hex digits of a key, enough to tell keys apart in a message. */
function short (key: string): string {
  return `${String(key).slice(0, 8)}…`
}
