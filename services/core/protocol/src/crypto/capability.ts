/**
 * Capability records: what a node offers (runtimes, limits, load), signed with its libp2p key
 * over `phase-capability:v1:` || JCS(record), and expiring. Because an Ed25519 PeerId embeds its
 * public key, a verifier needs only the PeerId it dialed to check that the receipt key in the
 * record really belongs to that peer — the binding receipts are verified against.
 */
import type { PrivateKey } from '@libp2p/interface'
import { CAPABILITY_DOMAIN, signingBytes } from './domain.ts'
import { bytesToHex, hexToBytes } from './hex.ts'
import { validator, describeError, sanitize } from '../documents/validate.ts'
import { deepFreeze, findIllFormedString } from '../documents/json.ts'
import { canonicalViolation, parseReceivedText, receivedText } from '../documents/received.ts'
import { VerificationError } from '../errors.ts'

export const CAPABILITY_TTL_MS = 10 * 60 * 1000

export interface CapabilityRecord {
  version: 1
  peer_id: string
  receipt_public_key: string
  runtimes: Array<{ name: string, version: string }>
  arch: string
  cores: number
  memory_mb: number
  limits: { max_memory_mb: number, max_timeout_ms: number, max_output_bytes: number, max_module_bytes: number }
  queue_depth: number
  protocols: string[]
  issued_at: number
  expires_at: number
  signature: string
}

export type UnsignedCapability = Omit<CapabilityRecord, 'signature' | 'peer_id' | 'issued_at' | 'expires_at'>

/** Signs a fresh record for this node, valid for `ttlMs`. Send it as `canonicalBytes(record)`: it is verified on those bytes. */
export async function signCapability (privateKey: PrivateKey, peerId: string, fields: UnsignedCapability, now = Date.now(), ttlMs = CAPABILITY_TTL_MS): Promise<CapabilityRecord> {
  const body = { ...fields, peer_id: peerId, issued_at: now, expires_at: now + ttlMs }
  const signature = bytesToHex(await privateKey.sign(signingBytes(CAPABILITY_DOMAIN, body)))
  return { ...body, signature }
}

/**
 * Checks a record received from `expectedPeerId` on its exact bytes (or text): `format`
 * (JSON of the schema), `canonical` (the bytes are exactly RFC 8785 of the record, one
 * trailing line feed tolerated — as for receipts, see checks.ts), `peer_id` (it names that
 * peer), `signature` (the peer's own key signed it), `expired`. A parsed object is refused at
 * `format`. Returns the record.
 */
export async function verifyCapability (input: Uint8Array | string, expectedPeerId: string, now = Date.now()): Promise<CapabilityRecord> {
  let value: unknown
  let text: string
  try {
    text = receivedText(input, 'capability record')
    value = parseReceivedText(text, 'capability record')
  } catch (err) {
    throw new VerificationError('format', (err as Error).message)
  }
  const validate = validator('capability')
  if (!validate(value)) throw new VerificationError('format', `capability record: ${describeError(validate.errors)}`)
  const record = value as CapabilityRecord
  // Integers only, and exact ones: beyond 2^53 a number has no one spelling across languages (PHP reads 1e+300 as a float).
  if (!safeIntegersOnly(record)) throw new VerificationError('format', 'capability record: numbers must be integers of at most 2^53 - 1')
  const bad = findIllFormedString(record)
  if (bad !== undefined) throw new VerificationError('format', sanitize(`capability record: ${bad} is not well-formed Unicode (lone surrogate)`))
  const violation = canonicalViolation(text, record)
  if (violation !== undefined) throw new VerificationError('canonical', `capability record is not in canonical form (RFC 8785): ${violation}`)
  if (record.peer_id !== expectedPeerId) throw new VerificationError('peer_id', sanitize(`capability record names ${record.peer_id}, dialed ${String(expectedPeerId).slice(0, 100)}`))
  // Loaded here, on the first check: @libp2p/peer-id brings ~140 modules (multiformats,
  // @libp2p/crypto, protons) that a process only verifying receipts, or the signer, never uses
  // (issue 11: start-up; each process importing this package paid ~60 ms of CPU for them).
  const { peerIdFromString } = await import('@libp2p/peer-id')
  let publicKey
  try {
    publicKey = peerIdFromString(expectedPeerId).publicKey
  } catch {
    throw new VerificationError('peer_id', 'the expected peer id is not a valid PeerId')
  }
  const signature = hexToBytes(record.signature, 64)
  if (publicKey === undefined || signature === undefined || !(await publicKey.verify(signingBytes(CAPABILITY_DOMAIN, record), signature))) {
    throw new VerificationError('signature', `capability record of ${expectedPeerId} is not signed by that peer's key`)
  }
  if (record.expires_at <= now) throw new VerificationError('expired', `capability record of ${expectedPeerId} expired`)
  return deepFreeze(record)
}

function safeIntegersOnly (value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value)
  if (typeof value !== 'object' || value === null) return true
  return Object.values(value).every(safeIntegersOnly)
}
