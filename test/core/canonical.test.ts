import { describe, it, expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import jcs from 'canonicalize'
import vm from 'node:vm'
import { canonicalize, canonicalBytes, plainCanonical } from '../../services/core/protocol/src/canonical.ts'
import { contentHash, HASH_PATTERN, useNativeSha256 } from '../../services/core/protocol/src/hash.ts'
import { contentHash as contentHashNode } from '../../services/core/protocol/src/hash-node.ts'
import { prng } from '../helpers/prng.ts'

/** A float64 from its IEEE 754 bit pattern (RFC 8785 Appendix B lists numbers this way). */
function float (hex: string): number {
  const view = new DataView(new ArrayBuffer(8))
  view.setBigUint64(0, BigInt(`0x${hex}`))
  return view.getFloat64(0)
}

describe('canonicalize (RFC 8785 JCS)', () => {
  it('matches the sample of RFC 8785 §3.2.2 (numbers, string escapes, literals)', () => {
    const input = JSON.parse('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}')
    expect(canonicalize(input)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
  })

  it('orders keys by UTF-16 code units as in RFC 8785 §3.2.3', () => {
    const input = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', 1: 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' }
    expect(canonicalize(input)).toBe('{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
  })

  it.each([
    ['0000000000000000', '0'], ['8000000000000000', '0'], ['0000000000000001', '5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'], ['4340000000000000', '9007199254740992'],
    ['444b1ae4d6e2ef50', '1e+21'], ['44b52d02c7e14af5', '9.999999999999997e+22'], ['44b52d02c7e14af6', '1e+23'],
    ['3eb0c6f7a0b5ed8d', '0.000001'], ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['c3e0000000000000', '-9223372036854776000']
  ])('formats the float64 %s as %s (RFC 8785 Appendix B)', (bits, text) => {
    expect(canonicalize(float(bits))).toBe(text)
  })

  it('throws a TypeError when a value has no JSON form (NaN, Infinity, undefined, lone surrogate)', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, undefined, { s: '\ud800' }]) {
      expect(() => canonicalize(value)).toThrow(TypeError)
    }
  })

  it('writes UTF-8 bytes when canonicalBytes is asked', () => {
    expect(Array.from(canonicalBytes({ b: 'é', a: 1 }))).toEqual(Array.from(Buffer.from('{"a":1,"b":"é"}')))
  })
})

describe('contentHash', () => {
  it('writes sha256:<64 lowercase hex> (FIPS 180-2 "abc")', () => {
    const hash = contentHash(Buffer.from('abc'))
    expect(hash).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(hash).toMatch(HASH_PATTERN)
  })

  it('gives the same string in its portable and node:crypto variants for any input', () => {
    for (const size of [0, 1, 55, 56, 63, 64, 65, 1000, 1 << 16]) {
      const bytes = randomBytes(size)
      expect(contentHashNode(bytes)).toBe(contentHash(bytes))
      useNativeSha256(false)
      try { expect(contentHash(bytes)).toBe(contentHashNode(bytes)) } finally { useNativeSha256(true) }
    }
  })
})

describe('canonicalize: the fast path for plain data against the library', () => {
  /** The library's own answer, or the TypeError canonicalize throws for it. */
  const library = (value: unknown): string | 'throws' => {
    try {
      const text = jcs(value)
      return text === undefined ? 'throws' : text
    } catch { return 'throws' }
  }
  const ours = (value: unknown): string | 'throws' => {
    try { return canonicalize(value) } catch (err) { expect(err).toBeInstanceOf(TypeError); return 'throws' }
  }
  const chars = ['a', 'Z', '0', '"', '\\', '/', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '\ufb33', '\ud83d\ude00', '\ud800', '\udc00', ' ']
  // Seeded, so a failure (it names the value) happens again on the next run.
  const random = prng(0x9e3779b9)
  const rand = (n: number): number => Math.floor(random() * n)
  /** `expect(actual).toBe(expected)`, naming the value when it fails. */
  const same = (actual: unknown, expected: unknown, value: unknown): void => {
    if (actual !== expected) throw new Error(`for ${String(JSON.stringify(value, (_k, v: unknown) => typeof v === 'bigint' ? `${v}n` : v))}: got ${String(actual)}, the library ${String(expected)}`)
  }
  const str = (): string => Array.from({ length: rand(6) }, () => chars[rand(chars.length)]!).join('')
  const numbers = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 333333333.33333329, 2 ** 53, -(2 ** 63), Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]
  const odd: Array<() => unknown> = [
    () => undefined, () => () => 1, () => Symbol('s'), () => 10n, () => new Date(0), () => new Number(3), () => new String('x'), () => new Boolean(false),
    () => ({ toJSON: () => 'j' }), () => ({ toJSON: () => undefined }), () => Buffer.from('ab'), () => new Uint8Array([1, 2]), () => new Map([[1, 2]]), () => Object.create(null)
  ]
  /** Random JSON-like values; `plain` keeps to what JSON.parse can make (well-formed strings, finite numbers). */
  const gen = (depth: number, plain: boolean): unknown => {
    const r = rand(depth > 4 ? 4 : 7)
    if (r === 0) return plain ? rand(1e6) / 7 - 3 : numbers[rand(numbers.length)]
    if (r === 1) { const s = str(); return plain ? s.toWellFormed() : s }
    if (r === 2) return [true, false, null][rand(3)]
    if (r === 3) return plain ? 'x' : odd[rand(odd.length)]!()
    if (r <= 5) return Array.from({ length: rand(5) }, () => gen(depth + 1, plain))
    const o: Record<string, unknown> = {}
    for (let i = rand(6); i > 0; i--) { const k = str(); o[plain ? k.toWellFormed() : k] = gen(depth + 1, plain) }
    return o
  }

  /** A copy of plain data whose objects list their members sorted (UTF-16 code units, as JCS). */
  const inOrder = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(inOrder)
    if (value === null || typeof value !== 'object') return value
    const out: Record<string, unknown> = {}
    // defineProperty: a member named __proto__ stays a member.
    for (const key of Object.keys(value).sort()) Object.defineProperty(out, key, { value: inOrder((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true })
    return out
  }

  it('gives the library\'s exact text for random plain data, by the fast path', () => {
    for (let i = 0; i < 3000; i++) {
      const value = gen(0, true)
      const text = library(value)
      same(plainCanonical(value), text, value)
      same(canonicalize(value), text, value)
      // The same data with every object's members given in JCS order (as canonical bytes parse
      // back). Built by hand, not by JSON.parse: V8 13.6 and 14.6 decode an escaped member name
      // (`"\\n"`, `"\\""`) as a lone backslash once an earlier parse left a `"\\\\"` name behind
      // (nodejs/node#63785), which these random names hit.
      same(plainCanonical(inOrder(value)), text, value)
    }
  })

  it('gives the library\'s text or refusal for random data with values JSON cannot carry as they are', () => {
    for (let i = 0; i < 3000; i++) {
      const value = gen(0, false)
      same(ours(value), library(value), value)
    }
  })

  it('gives the library\'s answer for values that are not plain, leaving to it those it must', () => {
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = cycle
    const deep: unknown[] = []
    let at = deep
    for (let i = 0; i < 10_000; i++) { const next: unknown[] = []; at.push(next); at = next }
    const sparse = [1, , 3] // eslint-disable-line no-sparse-arrays
    const withUndefined = { a: undefined, b: 1 }
    const getter = { get x () { return 2 }, y: 1 }
    const cases: unknown[] = [cycle, deep, sparse, withUndefined, { f: () => 1, g: 2 }, [undefined, () => 1, Symbol('x')], new Date(0),
      { d: new Date(0) }, { n: new Number(1) }, { s: '\ud800' }, { '\udc00': 1 }, { n: Number.NaN }, [Number.POSITIVE_INFINITY], { b: 1n },
      Buffer.from('hi'), new Uint8Array([3, 1]), Object.create(null), getter, Symbol('top'), undefined, () => 1]
    for (const value of cases) expect(ours(value)).toBe(library(value))
    // What JSON.stringify would read by internal slots the library does not look at: raw JSON,
    // boxed values of another realm, boxed values given Object.prototype.
    const realm = vm.runInNewContext('({ n: new Number(5), b: new Boolean(false), s: new String(""), o: { a: 1 }, a: [1, 2] })') as Record<string, unknown>
    const reboxed = [new Number(5), new Boolean(true), new String('')].map((v) => Object.setPrototypeOf(v, Object.prototype) as object)
    // From a realm of its own: jest's global JSON has no rawJSON (Node's own has, since V8 11.4).
    const raw = vm.runInNewContext('JSON.rawJSON') as (text: string) => object
    for (const value of [raw('1.0'), { a: raw('"\\u0041"') }, [raw('1e1000')], realm, realm.n, realm.b, realm.s, { a: realm.n }, ...reboxed, { r: reboxed }]) {
      same(ours(value), library(value), value)
    }
    // Members read once: a getter whose answer changes from read to read gives the library's text
    // for the same first answer (each side gets an object of its own).
    const changing = (answers: unknown[], extra: Record<string, unknown> = {}): object => {
      let k = 0
      return { ...extra, get a () { return answers[Math.min(k++, answers.length - 1)] } }
    }
    for (const [answers, extra] of [[[1, Number.NaN]], [['x', '\ud800']], [[{ b: 1 }, { z: 1, b: 2 }]], [[1, undefined], { b: 2 }]] as Array<[unknown[], Record<string, unknown>?]>) {
      same(ours(changing(answers, extra)), library(changing(answers, extra)), answers)
    }
    // A member whose getter throws, a proxy that refuses its keys: the library's refusal, a TypeError.
    const throwing = { a: 1, get b (): number { throw new Error('no') } }
    const refusing = new Proxy({}, { ownKeys () { throw new Error('no keys') } })
    for (const value of [throwing, refusing, [throwing]]) {
      expect(library(value)).toBe('throws')
      expect(() => canonicalize(value)).toThrow(TypeError)
    }
    for (const value of [cycle, deep, sparse, withUndefined, new Date(0), { n: Number.NaN }, { s: '\ud800' }, { '\udc00': 1 }]) {
      expect(plainCanonical(value)).toBeUndefined()
    }
    // Own `__proto__` members (JSON.parse makes them) and names that are array indices, given in order.
    for (const text of ['{"__proto__":1,"a":2}', '{"a":{"__proto__":{"b":1}}}', '{"10":1,"9":2}', '{"1":1,"a":2}', '{"1a":0,"2":1}', '[{"0":0,"b":[]}]']) {
      expect(plainCanonical(JSON.parse(text))).toBe(library(JSON.parse(text)))
    }
    // Keys in any insertion order come out sorted; already sorted keys are not re-sorted wrongly.
    expect(plainCanonical({ b: 1, a: { d: [], c: {} }, 10: 0, 9: 0, '': null })).toBe('{"":null,"10":0,"9":0,"a":{"c":{},"d":[]},"b":1}')
    // n arrays deep: 64 (the fast path's bound) by the fast path, 65 by the library, the same text either way.
    const nest = (n: number): unknown => n === 0 ? 1 : [nest(n - 1)]
    for (const n of [63, 64, 65, 66, 200]) expect(canonicalize(nest(n))).toBe(library(nest(n)))
    expect(plainCanonical(nest(64))).toBe(library(nest(64)))
    expect(plainCanonical(nest(65))).toBeUndefined()
  })
})
