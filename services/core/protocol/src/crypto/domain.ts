/**
 * What gets signed: `utf8(domain-prefix) || JCS(document without its signature field)`. A
 * different prefix per document kind, so one kind can never be replayed as another
 * (DESIGN §3). Portable.
 */
import { canonicalBytes } from '../canonical.ts'

export const RECEIPT_DOMAIN = 'phase-receipt:v1:'
export const CAPABILITY_DOMAIN = 'phase-capability:v1:'
/** Signed heads of the signer's receipt log (services/signer/src/receipt-log). */
export const RECEIPT_LOG_DOMAIN = 'phase-receipt-log:v1:'

const encoder = new TextEncoder()

/** The exact bytes a signature over `doc` covers (its `signature` field, if any, left out). */
export function signingBytes (domain: string, doc: object): Uint8Array {
  const { signature: _ignored, ...rest } = doc as { signature?: unknown }
  const prefix = encoder.encode(domain)
  const body = canonicalBytes(rest)
  const out = new Uint8Array(prefix.length + body.length)
  out.set(prefix, 0)
  out.set(body, prefix.length)
  return out
}
