/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of a document that is hashed
 * (job id, inputs hash) and signed (receipts). Portable: no Node-only APIs.
 */
import jcs from 'canonicalize'

const encoder = new TextEncoder()

/**
 * JCS text of a JSON value. Throws a TypeError on what JSON cannot carry: undefined at the
 * top, NaN, Infinity, cycles, strings with lone surrogates (they have no UTF-8 form).
 */
export function canonicalize (value: unknown): string {
  let text: string | undefined
  try {
    text = jcs(value)
  } catch (err) {
    throw new TypeError(`value has no canonical JSON form: ${(err as Error).message}`)
  }
  if (text === undefined) throw new TypeError('value has no canonical JSON form')
  return text
}

/** JCS bytes (UTF-8) of a JSON value. */
export function canonicalBytes (value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value))
}
