import { describe, it, expect } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { canonicalize, canonicalBytes } from '../../services/core/protocol/src/canonical.ts'
import { contentHash, HASH_PATTERN, useNativeSha256 } from '../../services/core/protocol/src/hash.ts'
import { contentHash as contentHashNode } from '../../services/core/protocol/src/hash-node.ts'

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
