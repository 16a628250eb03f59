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
  return sortedPlain(value, 0) ? JSON.stringify(value) : plainJcs(value, 0)
}

/**
 * True for plain data (as plainJcs takes it) whose every object lists its member names in JCS
 * order already and none of them starts with a digit or is `__proto__`: JSON.stringify then
 * writes the JCS text itself, natively, ~2× faster than plainJcs. Names in order is what
 * canonical bytes parse back to (every verification's canonical check). A digit first could be an
 * array index, which objects list first whatever the order they were given in; plainJcs sorts.
 */
function sortedPlain (value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed()
    case 'number':
      return Number.isFinite(value)
    case 'boolean':
      return true
    case 'object':
      break
    default:
      return false
  }
  if (value === null) return true
  if (depth >= MAX_PLAIN_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function' ||
    value instanceof Number || value instanceof String || value instanceof Boolean) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!sortedPlain(value[i], depth + 1)) return false
    return true
  }
  const keys = Object.keys(value)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const first = key.charCodeAt(0)
    if ((first >= 0x30 && first <= 0x39) || key === '__proto__' || !key.isWellFormed() || (i > 0 && keys[i - 1]! > key)) return false
    if (!sortedPlain((value as Record<string, unknown>)[key], depth + 1)) return false
  }
  return true
}

/** Nesting past this goes to the library (which walks any depth without recursion and finds cycles). */
const MAX_PLAIN_DEPTH = 64

/**
 * The JCS text of plain JSON data — what JSON.parse makes and what the node builds: objects and
 * arrays of strings, finite numbers, booleans and null — in one recursive pass, ~3× faster than
 * the library and with a fraction of its garbage (it is on every job's path: the job id, the
 * inputs hash, the receipt the signer signs, every verification's canonical check). Strings and
 * numbers are written by JSON.stringify, as the library writes them (RFC 8785 §3.2.2 is ES's
 * serialization), and member names sorted by UTF-16 code units (Array.prototype.sort's default
 * order), sorted only when they are not in order already. undefined for anything else — a value
 * with toJSON, a boxed primitive, a member or element JSON has no form for (undefined, a
 * function, a symbol, a bigint), NaN or ±Infinity, a string with a lone surrogate, nesting past
 * MAX_PLAIN_DEPTH (a cycle ends there) — and the caller then asks the library for the whole
 * value, so what it answers or throws is the library's own (test: canonical, differential).
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
