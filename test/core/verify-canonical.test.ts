/**
 * The byte check behind `canonical`: isCanonicalText (one pass, on every verification) answers
 * exactly `text === JCS(JSON.parse(text))`, with JCS the `canonicalize` package the signer uses;
 * canonicalJson (the check's messages) writes what that package writes; findRepeatedMember finds
 * a repeated member at any depth. Property-based, on arbitrary JSON and arbitrary respellings.
 */
import { describe, it, expect } from '@jest/globals'
import fc from 'fast-check'
import { canonicalize } from '../../services/core/protocol/src/canonical.ts'
import { canonicalJson, canonicalViolation, findRepeatedMember, isCanonicalText } from '../../services/core/protocol/src/documents/received.ts'

const RUNS = 2000
/** Any JSON value, strings of any UTF-16 code unit but lone surrogates (they have no canonical form). */
const values = fc.jsonValue({ stringUnit: 'grapheme' })
const binaryValues = fc.jsonValue({ stringUnit: 'binary' })

/** A non-canonical or canonical spelling of `value`: JSON.stringify, indented, escaped, … */
function spellings (value: unknown): string[] {
  const text = canonicalize(value)
  return [
    text,
    JSON.stringify(value),
    JSON.stringify(value, null, 1),
    ` ${text}`,
    text.replace(/[a-z]/, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
    text.replace(/(\d)(?=[,}\]]|$)/, '$1.0'),
    text.replace(/(\d+)(?=[,}\]]|$)/, '$1e0'),
    text.replace(/\//, '\\/'),
    text.replace(/\\u00([01][0-9a-f])/, (_m, h: string) => `\\u00${h.toUpperCase()}`)
  ]
}

describe('isCanonicalText', () => {
  it('is true of the canonical text of any JSON value', () => {
    fc.assert(fc.property(values, (v) => isCanonicalText(canonicalize(v))), { numRuns: RUNS })
  })

  it('answers exactly text === JCS(JSON.parse(text)) on arbitrary spellings', () => {
    fc.assert(fc.property(values, (v) => {
      for (const text of spellings(v)) {
        let parsed: unknown
        try { parsed = JSON.parse(text) } catch { continue }
        if (!text.isWellFormed()) continue
        expect([text, isCanonicalText(text)]).toEqual([text, text === canonicalize(parsed)])
      }
    }), { numRuns: RUNS })
  })

  it('answers exactly on arbitrary JSON text (fast-check json())', () => {
    fc.assert(fc.property(fc.json(), (text) => {
      if (!text.isWellFormed()) return
      expect([text, isCanonicalText(text)]).toEqual([text, text === canonicalize(JSON.parse(text))])
    }), { numRuns: RUNS })
  })

  it('refuses whitespace, a BOM, repeated or unsorted members, needless escapes and number spellings', () => {
    for (const text of ['{"a":1 }', '\uFEFF{}', '{"a":1,"a":1}', '{"b":1,"a":2}', '{"a":{"y":1,"x":1}}', '["\\u0041"]', '["\\/"]', '[1.0]', '[1e1]', '[-0]', '["\\u001F"]', '["\\u0009"]', '[true ]']) {
      expect([text, isCanonicalText(text)]).toEqual([text, false])
    }
    for (const text of ['{}', '[]', '{"":[],"a":{"b":null}}', '["\\u001f\\t\\"\\\\"]', '[1e+21,1.5,-1,0]', '{"\u00e9":1,"\ud83d\ude00":2,"\uffff":3}']) {
      expect([text, isCanonicalText(text)]).toEqual([text, true])
    }
  })

  it('sorts members by UTF-16 code units, as RFC 8785 §3.2.3 requires', () => {
    // U+1F600 (surrogates D83D DE00) sorts before U+FFFF in UTF-16, after it in code points.
    expect(isCanonicalText('{"\ud83d\ude00":1,"\uffff":2}')).toBe(true)
    expect(isCanonicalText('{"\uffff":2,"\ud83d\ude00":1}')).toBe(false)
  })
})

describe('canonicalJson', () => {
  it('writes what the canonicalize package writes, for any JSON value', () => {
    fc.assert(fc.property(binaryValues, (v) => {
      if (!JSON.stringify(v).isWellFormed() || !canonicalizable(v)) return
      expect(canonicalJson(v)).toBe(canonicalize(v))
    }), { numRuns: RUNS })
  })
})

describe('findRepeatedMember', () => {
  it('finds a member repeated at any depth, with its JSON pointer', () => {
    expect(findRepeatedMember('{"a":1,"a":2}')).toBe('/a')
    expect(findRepeatedMember('{"a":[{"x":1},{"b":{"c":1,"c":2}}]}')).toBe('/a/1/b/c')
    expect(findRepeatedMember('{"a~/":{"k":"\\"k\\"","k":1}}')).toBe('/a~0~1/k')
    expect(findRepeatedMember('{"a":1,"b":{"a":1}}')).toBeUndefined()
  })

  it('names the repeated member in the canonical check\'s message', () => {
    const text = '{"a":1,"b":{"c":1,"c":2}}'
    expect(canonicalViolation(text, JSON.parse(text))).toBe('member /b/c appears more than once')
  })
})

function canonicalizable (v: unknown): boolean {
  try { canonicalize(v); return true } catch { return false }
}
