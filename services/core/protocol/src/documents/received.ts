/**
 * A signed document as received: its exact text, read once, and the test that the text is the
 * one canonical spelling (RFC 8785) of what it parses to. JSON has many spellings of one value —
 * whitespace, member order, `\u` escapes, `17.0` for 17 — and lets a member name repeat, which
 * readers resolve differently (JSON.parse and PHP keep the last copy, others the first). A
 * signature over canonical JSON is only meaningful when the bytes received are that canonical
 * JSON: then every reader, in every language, sees the same document. Portable.
 */
import { InvalidJsonError } from '../errors.ts'
import { escapePointer } from './json.ts'
import { sanitize } from './validate.ts'

/** Keeps a leading U+FEFF in the text (TextDecoder drops it by default), so it can be refused. */
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const encoder = new TextEncoder()
const BOM = '\uFEFF'

/**
 * The exact text of received bytes (or of text already decoded). Anything else — a parsed
 * object above all — has no bytes to check, so it is refused rather than re-encoded.
 */
export function receivedText (input: unknown, what: string, maxBytes = Infinity): string {
  if (input instanceof Uint8Array) {
    if (input.byteLength > maxBytes) throw new InvalidJsonError(`${what} is ${input.byteLength} bytes, more than the ${maxBytes} a valid one can take`)
    try { return decoder.decode(input) } catch { throw new InvalidJsonError(`${what} is not valid UTF-8`) }
  }
  if (typeof input === 'string') {
    // A lone surrogate in the text itself has no UTF-8 form: these were never bytes on a wire.
    if (!input.isWellFormed()) throw new InvalidJsonError(`${what} text is not well-formed Unicode (lone surrogate)`)
    // The bound is on UTF-8 bytes, as for bytes received (a UTF-16 unit takes 1 to 3 of them).
    const size = input.length > maxBytes || input.length * 3 <= maxBytes ? input.length : encoder.encode(input).byteLength
    if (size > maxBytes) throw new InvalidJsonError(`${what} is more than the ${maxBytes} bytes a valid one can take`)
    return input
  }
  throw new InvalidJsonError(`${what} must be given as the exact bytes or text received (Uint8Array or string), not a parsed value: ` +
    'a parsed value cannot be checked against the bytes that were signed')
}

/**
 * The value of received text. A leading byte order mark is skipped here (as many readers do),
 * so that canonicalViolation can name it instead of "not JSON".
 */
export function parseReceivedText (text: string, what: string): unknown {
  try {
    return JSON.parse(text.startsWith(BOM) ? text.slice(1) : text)
  } catch {
    throw new InvalidJsonError(`${what} is not valid JSON`)
  }
}

/**
 * Why `text` is not exactly the canonical JSON (RFC 8785) of `value`, the value it parsed to;
 * undefined when it is. One trailing line feed is tolerated (files end with one: `jq -r`,
 * `echo`, editors) — it is outside the document and changes no reading. Nothing else is.
 */
export function canonicalViolation (text: string, value: unknown): string | undefined {
  if (isCanonicalText(text.endsWith('\n') ? text.slice(0, -1) : text)) return undefined
  const canonical = canonicalJson(value)
  if (text.startsWith(BOM)) return 'it starts with a byte order mark (U+FEFF)'
  const repeated = findRepeatedMember(text)
  if (repeated !== undefined) return sanitize(`member ${repeated} appears more than once`)
  let i = 0
  while (i < text.length && text[i] === canonical[i]) i++
  if (i === canonical.length) return sanitize(`${JSON.stringify(text.slice(i, i + 12))} follows the document at character ${i}`)
  return sanitize(`at character ${i} it has ${JSON.stringify(text.slice(i, i + 12))} where the canonical form has ${JSON.stringify(canonical.slice(i, i + 12))}`)
}

/**
 * Whether JSON text is exactly RFC 8785 of the value it parses to — the same answer as
 * `text === canonicalJson(JSON.parse(text))` — found in one pass without building the canonical
 * text (this is on every verification): nothing outside strings but structure and tokens (no
 * whitespace, no BOM); a string with an escape written as JSON.stringify writes it; numbers as
 * Number#toString writes them; members in strictly increasing UTF-16 order (so none repeats).
 * `text` must be well-formed Unicode that JSON.parse accepts (so a string without escapes holds
 * no control character and is already canonical).
 */
export function isCanonicalText (text: string): boolean {
  /** Per open container: the previous member name (objects; undefined before the first), or null (arrays). */
  const names: Array<string | null | undefined> = []
  let expectName = false
  const n = text.length
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) { // a string
      const start = i
      let escaped = false
      for (i++; i < n && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) { escaped = true; i++ }
      }
      if (i >= n) return false // unterminated: not JSON (callers parse first; this only keeps the loop bounded)
      const token = text.slice(start, i + 1)
      const value = escaped ? JSON.parse(token) as string : token.slice(1, -1)
      if (escaped && JSON.stringify(value) !== token) return false
      if (expectName) {
        const previous = names[names.length - 1]
        if (typeof previous === 'string' && !(previous < value)) return false
        names[names.length - 1] = value
        expectName = false
      }
    } else if (c === 0x7b) { // {
      names.push(undefined)
      expectName = true
    } else if (c === 0x5b) { // [
      names.push(null)
    } else if (c === 0x7d || c === 0x5d) { // } ]
      names.pop()
    } else if (c === 0x2c) { // ,
      expectName = names[names.length - 1] !== null
    } else if (c === 0x3a) { // :
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) { // a number
      let end = i + 1
      while (end < n && NUMBER_CHARS.includes(text[end]!)) end++
      const token = text.slice(i, end)
      if (String(Number(token)) !== token) return false
      i = end - 1
    } else if (c === 0x74 || c === 0x6e) { // true, null
      i += 3
    } else if (c === 0x66) { // false
      i += 4
    } else {
      return false // whitespace, a BOM, anything else outside a string
    }
  }
  return true
}

const NUMBER_CHARS = '0123456789.eE+-'

/**
 * RFC 8785 text of a value JSON.parse produced — plain objects, arrays, strings, finite numbers,
 * booleans, null; nothing else (no toJSON, no cycles, no undefined), so this needs none of the
 * general canonicalizer's guards and runs ~3× faster (it is on every verification). Members
 * sorted by UTF-16 code units (Array#sort's default order), numbers and strings as ECMAScript's
 * JSON.stringify writes them (RFC 8785 §3.2.2). Strings must be well-formed (checked earlier).
 */
export function canonicalJson (value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value)
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i])
    return `${out}]`
  }
  const keys = Object.keys(value).sort()
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    out += `${i === 0 ? '' : ','}${JSON.stringify(keys[i])}:${canonicalJson((value as Record<string, unknown>)[keys[i]!])}`
  }
  return `${out}}`
}

interface Frame {
  /** JSON pointer of this container. */
  path: string
  /** Member names seen so far; undefined for an array. */
  names?: Set<string>
  /** The next string is a member name (objects only). */
  expectName: boolean
  /** Name of the current member, or index of the current element. */
  at: string
}

/**
 * JSON pointer of the first member whose name repeats in its object, at any depth; undefined
 * when none does. `text` must be JSON that parses (a BOM and surrounding whitespace allowed).
 */
export function findRepeatedMember (text: string): string | undefined {
  const stack: Frame[] = []
  const childPath = (): string => {
    const top = stack.at(-1)
    return top === undefined ? '' : `${top.path}/${escapePointer(top.at)}`
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    const top = stack.at(-1)
    if (c === '"') {
      let end = i + 1
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      if (end >= text.length) return undefined // unterminated: not JSON (callers parse first)
      if (top?.names !== undefined && top.expectName) {
        const name = JSON.parse(text.slice(i, end + 1)) as string
        if (top.names.has(name)) return `${top.path}/${escapePointer(name)}`
        top.names.add(name)
        top.at = name
        top.expectName = false
      }
      i = end
    } else if (c === '{') {
      stack.push({ path: childPath(), names: new Set(), expectName: true, at: '' })
    } else if (c === '[') {
      stack.push({ path: childPath(), expectName: false, at: '0' })
    } else if (c === '}' || c === ']') {
      stack.pop()
    } else if (c === ',' && top !== undefined) {
      if (top.names !== undefined) top.expectName = true
      else top.at = String(Number(top.at) + 1)
    }
  }
  return undefined
}
