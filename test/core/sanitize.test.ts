/**
 * sanitize: what a client or peer sent, made safe for a log field or an error message that
 * reaches gRPC (whose status message grpc-js passes through encodeURI) and terminals.
 */
import { describe, it, expect } from '@jest/globals'
import { sanitize } from '../../services/core/process/src/logger.ts'

describe('sanitize', () => {
  it('escapes control characters and line separators', () => {
    expect(sanitize('a\r\nb\u0000c\u2028d\u0085')).toBe('a\\u000d\\u000ab\\u0000c\\u2028d\\u0085')
  })

  it('escapes the bidirectional controls that reorder what a terminal shows', () => {
    for (const c of ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069']) {
      expect(sanitize(`x${c}y`)).toBe(`x\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}y`)
    }
  })

  it('escapes lone surrogates and keeps pairs', () => {
    expect(sanitize('a\ud800b')).toBe('a\\ud800b')
    expect(sanitize('a\udc00b')).toBe('a\\udc00b')
    expect(sanitize('end\ud83d')).toBe('end\\ud83d')
    expect(sanitize('a😀b')).toBe('a😀b')
    expect(sanitize('\udc00\ud800')).toBe('\\udc00\\ud800')
  })

  it('never cuts a surrogate pair in two', () => {
    const cut = sanitize(`${'y'.repeat(79)}😀tail`, 80)
    expect(cut.isWellFormed()).toBe(true)
    expect(cut.startsWith(`${'y'.repeat(79)}…`)).toBe(true)
    expect(sanitize(`${'y'.repeat(78)}😀tail`, 80).startsWith(`${'y'.repeat(78)}😀…`)).toBe(true)
  })

  it('gives well-formed text for any input', () => {
    let seed = 7
    for (let i = 0; i < 2000; i++) {
      let s = ''
      for (let j = 0; j < 40; j++) { seed = (seed * 1103515245 + 12345) >>> 0; s += String.fromCharCode(seed % 3 === 0 ? 0xd800 + (seed >>> 8) % 0x800 : (seed >>> 8) % 0x10000) }
      const out = sanitize(s, 30)
      expect(out.isWellFormed()).toBe(true)
      expect(encodeURI(out)).toBeDefined()
    }
  })
})
