/**
 * What gets signed: `domain-prefix || JCS(document without its signature field)`. A different
 * prefix per document kind, so one kind can never be replayed as another (DESIGN §3). Portable.
 */
import { canonicalBytes } from '../canonical.ts'

export const RECEIPT_DOMAIN = 'phase-receipt:v1:'
export const CAPABILITY_DOMAIN = 'phase-capability:v1:'

const encoder = new TextEncoder()

/** The exact bytes a signature covers. */
export function signingBytes (domain: string, doc: object): Uint8Array {
  const { signature: _ignored, ...rest } = doc as { signature?: unknown }
  const prefix = encoder.encode(domain)
  const body = canonicalBytes(rest)
  const out = new Uint8Array(prefix.length + body.length)
  out.set(prefix, 0)
  out.set(body, prefix.length)
  return out
}

export function bytesToHex (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

/** Lowercase hex of exactly `length` bytes → bytes; anything else → undefined. */
export function hexToBytes (hex: string, length: number): Uint8Array | undefined {
  if (typeof hex !== 'string' || hex.length !== length * 2 || !/^[0-9a-f]*$/.test(hex)) return undefined
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}
