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
  let fast: string | undefined
  // A getter or proxy that throws: the library meets it again and its error becomes the TypeError below.
  try { fast = plainCanonical(value) } catch { fast = undefined }
  if (fast !== undefined) return fast
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

/** JCS text by the fast path (plainJcs below), or undefined when the value needs the library. Exported for tests. */
export function plainCanonical (value: unknown): string | undefined {
  return plainJcs(value, 0)
}

/** Nesting past this goes to the library (which walks any depth without recursion and finds cycles). */
const MAX_PLAIN_DEPTH = 64

/**
 * The JCS text of plain JSON data — what JSON.parse makes and what the node builds: objects and
 * arrays of strings, finite numbers, booleans and null — in one recursive pass, ~1.5× faster than
 * the library and with less garbage (it is on every job's path: the job id, the inputs hash, the
 * receipt the signer signs). It walks as the library does — Object.keys, each member read once,
 * `instanceof` for boxed values, toJSON looked up — and writes strings and numbers as the library
 * does (JSON.stringify's text for a string, RFC 8785 §3.2.2; String() for a finite number, the
 * same ES Number::toString), member names sorted by UTF-16 code units (Array.prototype.sort's
 * default order) only when they are not in order already. Never JSON.stringify on an object:
 * it looks at internal slots the library does not (JSON.rawJSON, boxed values of another realm).
 * undefined for anything else — a value with toJSON, a boxed primitive, a member or element JSON
 * has no form for (undefined, a function, a symbol, a bigint), NaN or ±Infinity, a string with a
 * lone surrogate, nesting past MAX_PLAIN_DEPTH (a cycle ends there) — and the caller then asks
 * the library for the whole value, so what it answers or throws is the library's own (test:
 * canonical, differential). Members are read as values: for a getter or proxy whose answers
 * change from read to read, the text is JCS of what one pass read (this one, or the library's
 * after this one gave up).
 */
function plainJcs (value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return quoted(value)
    case 'number':
      // String() writes a finite number exactly as JSON.stringify does (both are ES Number::toString).
      return Number.isFinite(value) ? String(value) : undefined
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      break
    default:
      return undefined
  }
  if (value === null) return 'null'
  if (depth >= MAX_PLAIN_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function' ||
    value instanceof Number || value instanceof String || value instanceof Boolean) return undefined
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      const item = plainJcs(value[i], depth + 1)
      if (item === undefined) return undefined
      out += i === 0 ? item : `,${item}`
    }
    return `${out}]`
  }
  const keys = Object.keys(value)
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) { keys.sort(); break }
  }
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const name = quoted(key)
    if (name === undefined) return undefined
    const member = plainJcs((value as Record<string, unknown>)[key], depth + 1)
    if (member === undefined) return undefined
    out += `${i === 0 ? '' : ','}${name}:${member}`
  }
  return `${out}}`
}

/**
 * A string as JSON.stringify writes it, or undefined for one with a lone surrogate (no UTF-8
 * form). Printable ASCII without `"` and `\\` is written as it is (JSON.stringify escapes nothing
 * there): most names and values (hashes, ids, times), without a call into JSON.stringify each.
 */
function quoted (s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return s.isWellFormed() ? JSON.stringify(s) : undefined
  }
  return `"${s}"`
}
