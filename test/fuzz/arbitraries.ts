/**
 * Hostile inputs for every parser and entry point: random JSON, mutated valid documents (a field
 * dropped, retyped, made huge, nested deep, an unknown field added), huge and odd numbers, bad
 * UTF-8, random bytes. Shared by the parser and the running-node fuzz tests.
 */
import fc from 'fast-check'

/** Numbers JSON parsers and schemas get wrong: huge, tiny, negative zero, past 2^53, exponents. */
export const oddNumber = fc.constantFrom(1e308, -1e308, 5e-324, -0, 2 ** 53 + 1, 2 ** 64, -(2 ** 63), 4294967296, -1, 0.5, 1e21, 123456789012345678901234567890)

/** Raw JSON text of numbers that do not survive a float round trip. */
export const oddNumberText = fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890', '0.000000000000000000000000000001e-400', '-0', '1E+2', '1.0', '0e0', '00', '01', '.5', '+1', 'NaN', 'Infinity', '0x10')

/** Any JSON value, small. */
export const json = fc.jsonValue({ maxDepth: 4 })

/** JSON text `depth` levels deep, as arrays or objects. */
export const deepText = fc.tuple(fc.integer({ min: 100, max: 20_000 }), fc.boolean()).map(([depth, arrays]) =>
  arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth))

/** Byte sequences that are not UTF-8: lone continuation bytes, overlong forms, surrogates, 0xff. */
export const badUtf8 = fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(
  [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]
), fc.uint8Array({ maxLength: 64 })).map(([a, bad, b]) => {
  const out = new Uint8Array(a.length + bad.length + b.length)
  out.set(a); out.set(bad, a.length); out.set(b, a.length + bad.length)
  return out
})

/** Strings with lone surrogates (valid JSON text, no UTF-8 form). */
export const loneSurrogate = fc.constantFrom('\ud800', 'a\udc00b', '\udfff\ud800')

type Doc = Record<string, unknown>

/** A value to put where a field was: wrong types, odd numbers, long strings, deep values. */
const replacement: fc.Arbitrary<unknown> = fc.oneof(
  json, oddNumber, loneSurrogate, fc.string({ maxLength: 200 }),
  fc.string({ minLength: 5000, maxLength: 70_000 }),
  fc.array(fc.string({ maxLength: 20 }), { maxLength: 300 }),
  fc.integer({ min: 1, max: 200 }).map((d) => { let v: unknown = 1; for (let i = 0; i < d; i++) v = [v]; return v }),
  // Fresh objects each time: a shared constant could be nested into itself (a cycle JSON cannot carry).
  fc.constant(null), fc.constant(0).map(() => ({})), fc.constant(0).map(() => [])
)

/** Paths to every value inside a document (so a mutation can hit nested fields too). */
function paths (doc: unknown, prefix: string[] = []): string[][] {
  if (typeof doc !== 'object' || doc === null) return [prefix]
  const out: string[][] = prefix.length > 0 ? [prefix] : []
  for (const [k, v] of Object.entries(doc)) out.push(...paths(v, [...prefix, k]))
  return out
}

function clone<T> (v: T): T { return JSON.parse(JSON.stringify(v)) as T }

/** `valid` with 1 to 3 random mutations: drop, replace, add an unknown field, or keep it valid. */
export function mutated (valid: Doc): fc.Arbitrary<unknown> {
  const all = paths(valid)
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('drop' as const), at: fc.constantFrom(...all) }),
    fc.record({ op: fc.constant('set' as const), at: fc.constantFrom(...all), value: replacement }),
    fc.record({ op: fc.constant('add' as const), at: fc.constantFrom([], ...all), key: fc.string({ maxLength: 12 }), value: replacement })
  )
  return fc.array(mutation, { minLength: 0, maxLength: 3 }).map((ops) => {
    const doc = clone(valid)
    for (const m of ops) {
      const parent = m.at.slice(0, -1).reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Doc)[k] : undefined), doc)
      const last = m.at[m.at.length - 1]
      if (m.op === 'add') {
        const target = m.at.reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Doc)[k] : undefined), doc)
        if (typeof target === 'object' && target !== null && !Array.isArray(target)) (target as Doc)[m.key] = m.value
      } else if (typeof parent === 'object' && parent !== null && last !== undefined) {
        if (m.op === 'drop') delete (parent as Doc)[last]
        else (parent as Doc)[last] = m.value
      }
    }
    return doc
  })
}

/** JSON text of a document, sometimes with a raw odd number or a truncation spliced in. */
export function asText (doc: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.tuple(doc, fc.oneof(
    fc.constant({ kind: 'plain' as const }),
    fc.record({ kind: fc.constant('number' as const), text: oddNumberText }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('dupkey' as const) })
  )).map(([d, how]) => {
    const text = JSON.stringify(d) ?? 'null'
    switch (how.kind) {
      case 'plain': return text
      // The first number in the text becomes an odd literal (some are not JSON at all).
      case 'number': return text.replace(/-?\d+(\.\d+)?([eE][+-]?\d+)?/, how.text)
      case 'cut': return text.slice(0, how.at % (text.length + 1))
      // Duplicate keys: JSON.parse keeps the last, a signature might cover the first.
      case 'dupkey': return text.startsWith('{"') ? `{"version":0,${text.slice(1)}` : text
    }
  })
}

/** Any hostile body: random JSON, deep nesting, bad UTF-8, random bytes, or a mutated valid doc. */
export function hostile (valid: Doc): fc.Arbitrary<Uint8Array> {
  const enc = new TextEncoder()
  return fc.oneof(
    { arbitrary: asText(mutated(valid)).map((t) => enc.encode(t)), weight: 6 },
    { arbitrary: asText(json).map((t) => enc.encode(t)), weight: 2 },
    { arbitrary: deepText.map((t) => enc.encode(t)), weight: 1 },
    { arbitrary: badUtf8, weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 1 }
  )
}
