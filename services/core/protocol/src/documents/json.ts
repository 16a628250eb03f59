/**
 * The edge between untrusted input and a document value: JSON text or UTF-8 bytes are parsed,
 * an already parsed value is copied (so validation and later use see the same data, and the
 * caller's object is never frozen), and the result is frozen. Portable.
 */
import { InvalidJsonError } from '../errors.ts'

const decoder = new TextDecoder('utf-8', { fatal: true })

/** JSON text or UTF-8 bytes → a fresh value; any other input → a deep copy of it. */
export function toDocumentValue (input: unknown, what: string): unknown {
  let text: string
  if (typeof input === 'string') text = input
  else if (input instanceof Uint8Array) {
    try { text = decoder.decode(input) } catch { throw new InvalidJsonError(`${what} is not valid UTF-8`) }
  } else {
    try { return structuredClone(input) } catch { throw new InvalidJsonError(`${what} is not a JSON value`) }
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new InvalidJsonError(`${what} is not valid JSON`)
  }
}

export function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/**
 * JSON pointer of the first string (value or key) that is not well-formed UTF-16, i.e. holds a
 * lone surrogate. JSON text may carry one (`"\ud800"`), but it has no UTF-8 form, so RFC 8785
 * cannot canonicalize it: such a document could be neither hashed nor signed.
 */
export function findIllFormedString (value: unknown, pointer = ''): string | undefined {
  // Every document a node signs or runs passes through here: check first without building a
  // pointer per member (most of the cost), and build them only to name a string that fails.
  if (allWellFormed(value)) return undefined
  return illFormedAt(value, pointer)
}

function allWellFormed (value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed()
  if (typeof value !== 'object' || value === null) return true
  if (Array.isArray(value)) {
    for (const child of value) if (!allWellFormed(child)) return false
    return true
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue
    if (!key.isWellFormed() || !allWellFormed((value as Record<string, unknown>)[key])) return false
  }
  return true
}

function illFormedAt (value: unknown, pointer: string): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : pointer || '/'
  if (typeof value !== 'object' || value === null) return undefined
  for (const [key, child] of Object.entries(value)) {
    const here = `${pointer}/${escapePointer(key)}`
    if (!key.isWellFormed()) return here
    const found = illFormedAt(child, here)
    if (found !== undefined) return found
  }
  return undefined
}

/** RFC 6901 escaping of one reference token. */
export function escapePointer (token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}
