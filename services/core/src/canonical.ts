/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of a document that is hashed
 * (job id) and signed (receipts). Portable: no Node-only APIs.
 */
import jcs from 'canonicalize'

const encoder = new TextEncoder()

/** JCS text of a JSON value. Throws on values JSON cannot carry (undefined, NaN, Infinity). */
export function canonicalize (value: unknown): string {
  const text = jcs(value)
  if (text === undefined) throw new TypeError('value has no JSON form')
  return text
}

/** JCS bytes (UTF-8) of a JSON value. */
export function canonicalBytes (value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value))
}
