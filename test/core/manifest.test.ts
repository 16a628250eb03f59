import { describe, it, expect } from '@jest/globals'
import { parseManifest, upgradeManifest, jobIdOf, inputsHashOf, manifestStdin, randomNonce, type Manifest } from '../../services/core/protocol/src/documents/index.ts'
import { contentHash as contentHashNode } from '../../services/core/protocol/src/hash-node.ts'
import { isCanonicalBase64 } from '../../services/core/protocol/src/documents/validate.ts'
import fc from 'fast-check'

const HASH = `sha256:${'ab'.repeat(32)}`
const NONCE = '00'.repeat(16)
const base = { version: 1, module_hash: HASH, nonce: NONCE }

/** The error a call throws (fails the test when it does not throw). */
function errorOf (fn: () => unknown): { code: string, message: string } {
  try { fn() } catch (err) { return err as { code: string, message: string } }
  throw new Error('expected an error')
}

describe('parseManifest', () => {
  it('returns a frozen v1 manifest, exactly as given, when the input is valid JSON text', () => {
    const manifest = parseManifest(JSON.stringify({ ...base, args: ['a'] }))
    expect(manifest).toEqual({ ...base, args: ['a'] })
    expect(Object.isFrozen(manifest)).toBe(true)
    expect(Object.isFrozen(manifest.args)).toBe(true)
  })

  it('accepts UTF-8 bytes and parsed values, and never freezes the caller\'s object', () => {
    expect(parseManifest(Buffer.from(JSON.stringify(base)))).toEqual(base)
    const mine = { ...base, env: { A: 'b' } }
    expect(parseManifest(mine)).toEqual(mine)
    expect(Object.isFrozen(mine)).toBe(false)
  })

  it('gives back a manifest it returned as it is (deep-frozen, so still valid), not copied and checked again', () => {
    const manifest = parseManifest(JSON.stringify({ ...base, args: ['a'] }))
    expect(parseManifest(manifest)).toBe(manifest)
    // An equal object it did not return is copied and checked, and a bad one refused.
    const equal = { ...base, args: ['a'] }
    expect(parseManifest(equal)).not.toBe(equal)
    expect(errorOf(() => parseManifest({ ...manifest, nonce: 'x' })).code).toBe('invalid_manifest')
  })

  it('accepts every optional field within its bounds', () => {
    const full = {
      ...base, args: ['x', ''], env: { PATH_2: 'y', _: '' }, stdin: 'aGk=',
      limits: { memory_mb: 64, timeout_ms: 1000, output_bytes: 0 }, requirements: { runtime: 'v8-wasm', arch: 'x86_64', min_memory_mb: 64, min_cores: 1 }
    }
    expect(parseManifest(full)).toEqual(full)
  })

  it.each([
    ['malformed JSON', '{"version":1,', 'invalid_json', 'not valid JSON'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'invalid_json', 'UTF-8'],
    ['a JSON array', '[]', 'invalid_manifest', 'JSON object'],
    ['an unknown top-level field', { ...base, cpu: 1 }, 'invalid_manifest', "(top level) has unknown field 'cpu'"],
    ['an unknown limits field', { ...base, limits: { cpu: 1 } }, 'invalid_manifest', "/limits has unknown field 'cpu'"],
    ['a missing nonce', { version: 1, module_hash: HASH }, 'invalid_manifest', '/nonce is required'],
    ['a bare-hex module hash', { ...base, module_hash: 'ab'.repeat(32) }, 'invalid_manifest', '/module_hash must be "sha256:"'],
    ['an uppercase module hash', { ...base, module_hash: HASH.toUpperCase().replace('SHA256', 'sha256') }, 'invalid_manifest', '/module_hash'],
    ['a short nonce', { ...base, nonce: 'ab'.repeat(8) }, 'invalid_manifest', '/nonce must be 32 to 64 lowercase hex'],
    ['an uppercase nonce', { ...base, nonce: 'AB'.repeat(16) }, 'invalid_manifest', '/nonce'],
    ['a negative limit', { ...base, limits: { output_bytes: -1 } }, 'invalid_manifest', '/limits/output_bytes must be >= 0'],
    ['a zero timeout', { ...base, limits: { timeout_ms: 0 } }, 'invalid_manifest', '/limits/timeout_ms must be >= 1'],
    ['a fractional timeout', { ...base, limits: { timeout_ms: 1.5 } }, 'invalid_manifest', '/limits/timeout_ms must be integer'],
    ['a string limit', { ...base, limits: { memory_mb: '64' } }, 'invalid_manifest', '/limits/memory_mb must be integer'],
    ['a non-string arg', { ...base, args: ['a', 1] }, 'invalid_manifest', '/args/1 must be string'],
    ['too many args', { ...base, args: new Array(1025).fill('') }, 'invalid_manifest', '/args must NOT have more than 1024 items'],
    ['a bad env name', { ...base, env: { '1X': 'y' } }, 'invalid_manifest', '/env/1X is not an allowed name'],
    ['a non-string env value', { ...base, env: { X: 1 } }, 'invalid_manifest', '/env/X must be string'],
    ['stdin that is not base64', { ...base, stdin: 'hello!' }, 'invalid_manifest', '/stdin must be canonical standard base64'],
    ['unpadded base64 stdin', { ...base, stdin: 'aGk' }, 'invalid_manifest', '/stdin'],
    ['base64 stdin with unused bits set', { ...base, stdin: 'aGl=' }, 'invalid_manifest', '/stdin'],
    ['version 2', { ...base, version: 2 }, 'invalid_manifest', '/version 2 is not supported'],
    ['a lone surrogate in an arg', { ...base, args: ['\ud800'] }, 'invalid_manifest', '/args/0 is not well-formed Unicode']
  ])('rejects %s with a message naming the field', (_what, input, code, message) => {
    const err = errorOf(() => parseManifest(input))
    expect(err.code).toBe(code)
    expect(err.message).toContain(message)
  })

  it('escapes and bounds what it quotes from the input', () => {
    const err = errorOf(() => parseManifest({ ...base, ['\n'.repeat(500)]: 1 }))
    expect(err.code).toBe('invalid_manifest')
    expect(err.message).not.toMatch(/[^\x20-\x7e…]/)
    expect(err.message.length).toBeLessThanOrEqual(220)
  })

  it('upgrades a seed v0.1 manifest when version is "0.1" or 0.1', () => {
    const v01 = { module_hash: 'cd'.repeat(32), cpu_cores: 1, memory_mb: 64, timeout_seconds: 5 }
    for (const version of ['0.1', 0.1]) {
      const manifest = parseManifest(JSON.stringify({ version, ...v01 }), { nonce: () => '11'.repeat(16) })
      expect(manifest).toEqual({
        version: 1, module_hash: `sha256:${'cd'.repeat(32)}`, nonce: '11'.repeat(16),
        limits: { memory_mb: 64, timeout_ms: 5000 }, requirements: { min_cores: 1 }
      })
      expect(jobIdOf(manifest)).toBe('sha256:106886fb1fb57f1e0d6007666b499ab56088a38847a5b2bcff5880807b09f80d')
    }
  })

  it('gives an upgraded v0.1 manifest a fresh random nonce when none is supplied', () => {
    const v01 = { version: '0.1', module_hash: HASH, cpu_cores: 2, memory_mb: 64, timeout_seconds: 5 }
    const a = parseManifest(v01)
    const b = parseManifest(v01)
    expect(a.nonce).toMatch(/^[0-9a-f]{32}$/)
    expect(a.nonce).not.toBe(b.nonce)
  })

  it('rejects a v0.1 manifest with fields beyond the five it had', () => {
    const err = errorOf(() => parseManifest({ version: '0.1', module_hash: HASH, cpu_cores: 1, memory_mb: 64, timeout_seconds: 5, args: [] }))
    expect(err.code).toBe('invalid_manifest')
    expect(err.message).toContain("v0.1 manifest: (top level) has unknown field 'args'")
  })

  it('rejects a v0.1 manifest whose upgrade would be invalid (bad nonce source)', () => {
    const err = errorOf(() => upgradeManifest({ version: '0.1', module_hash: HASH, cpu_cores: 1, memory_mb: 64, timeout_seconds: 5 }, { nonce: 'xyz' }))
    expect(err.code).toBe('invalid_manifest')
    expect(err.message).toContain('/nonce')
  })
})

describe('jobIdOf', () => {
  const known: Manifest = { version: 1, module_hash: HASH, nonce: NONCE, args: ['Hello, World'], env: { LANG: 'C' } }

  it('is sha256 of the canonical JSON of the manifest as given (a known literal)', () => {
    // {"args":["Hello, World"],"env":{"LANG":"C"},"module_hash":"sha256:abab…","nonce":"0000…","version":1}
    expect(jobIdOf(known)).toBe('sha256:1c9137f6f8b50350b9ba001e56870337b57468f48ea0f927a78e2ca8a0258175')
  })

  it('does not depend on key order or on how the JSON text was spaced', () => {
    const text = '{ "env": {"LANG": "C"}, "nonce": "' + NONCE + '", "args": ["Hello, World"], "version": 1, "module_hash": "' + HASH + '" }'
    expect(jobIdOf(parseManifest(text))).toBe(jobIdOf(known))
  })

  it('changes when the nonce changes, and when a default is written out', () => {
    expect(jobIdOf({ ...known, nonce: '01'.repeat(16) })).not.toBe(jobIdOf(known))
    expect(jobIdOf({ ...known, stdin: '' })).not.toBe(jobIdOf(known))
  })

  it('gives the same id with the node:crypto hasher', () => {
    expect(jobIdOf(known, contentHashNode)).toBe(jobIdOf(known))
  })
})

describe('inputsHashOf', () => {
  it('hashes { args, env, stdin } with their defaults filled in', () => {
    expect(inputsHashOf({ ...base, version: 1 })).toBe('sha256:ef9211e2bd56b20f226b9330ff2116e8aef0dcf8c98bc1be8f70372bcba154c8')
    expect(inputsHashOf({ ...base, version: 1, args: [], env: {}, stdin: '' })).toBe(inputsHashOf({ ...base, version: 1 }))
    expect(inputsHashOf({ ...base, version: 1, args: ['Hello, World'], env: { LANG: 'C' } }))
      .toBe('sha256:8ff0ee3287e37cc083d0191a243ed7eb510815ecb8ae0e1eedc19bfe755fabdd')
  })

  it('ignores what is not an input (nonce, limits)', () => {
    const m: Manifest = { version: 1, module_hash: HASH, nonce: NONCE, args: ['x'] }
    expect(inputsHashOf({ ...m, nonce: '22'.repeat(16), limits: { memory_mb: 1 } })).toBe(inputsHashOf(m))
  })
})

describe('manifestStdin', () => {
  it('decodes base64 stdin to bytes, and gives no bytes when stdin is absent', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255, 10])
    expect(Buffer.from(manifestStdin({ ...base, version: 1, stdin: bytes.toString('base64') }))).toEqual(bytes)
    expect(manifestStdin({ ...base, version: 1 }).byteLength).toBe(0)
  })
})

describe('randomNonce', () => {
  it('gives 32 lowercase hex digits', () => {
    expect(randomNonce()).toMatch(/^[0-9a-f]{32}$/)
  })
})

describe('manifest stdin check', () => {
  // The schema's regular expression, kept here as the reference the linear check must agree with.
  const REFERENCE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$/

  it('accepts stdin up to the 4 MiB cap when its base64 is longer than the regex engine\'s stack', () => {
    for (const bytes of [3_400_000, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024]) {
      const stdin = Buffer.alloc(bytes, 0xa7).toString('base64')
      expect(parseManifest({ ...base, stdin }).stdin).toHaveLength(stdin.length)
    }
    const bad = Buffer.alloc(4_000_000, 1).toString('base64').slice(0, -1) + '!'
    expect(errorOf(() => parseManifest({ ...base, stdin: bad }))).toMatchObject({ code: 'invalid_manifest', message: expect.stringContaining('/stdin must be canonical standard base64') })
  })

  it('agrees with the schema\'s regular expression on every short string', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'AQgwEIMBb09+/=!é '.split('')), maxLength: 12 }), (s) => {
      expect(isCanonicalBase64(s)).toBe(REFERENCE.test(s))
    }), { numRuns: 20_000 })
    for (let n = 0; n < 64; n++) {
      const b64 = Buffer.alloc(n, n * 37).toString('base64')
      expect(isCanonicalBase64(b64)).toBe(true)
    }
  })
})

describe('manifest input files and profile', () => {
  const FILE = `sha256:${'cd'.repeat(32)}`
  const OTHER = `sha256:${'ef'.repeat(32)}`

  it('accepts input files under /in, a profile and a fuel budget', () => {
    const doc = { ...base, inputs: [{ path: '/in/data.csv', hash: FILE }, { path: '/in/sub/x.bin', hash: OTHER }], profile: 'deterministic', limits: { fuel: 1000 } }
    expect(parseManifest(JSON.stringify(doc))).toEqual(doc)
  })

  it.each([
    ['/out/x', 'outside /in'], ['/in', 'the folder itself'], ['/in/', 'an empty name'], ['/in/../etc/passwd', 'a .. segment'],
    ['/in/./a', 'a . segment'], ['/in/a//b', 'an empty segment'], ['/in/a b', 'a space'], ['in/a', 'a relative path'],
    [`/in/${'a'.repeat(252)}`, 'more than 255 characters']
  ])('refuses the input path %s (%s)', (path) => {
    expect(errorOf(() => parseManifest({ ...base, inputs: [{ path, hash: FILE }] })).code).toBe('invalid_manifest')
  })

  it('refuses two inputs at one path, and a file that is another input\'s folder', () => {
    const twice = errorOf(() => parseManifest({ ...base, inputs: [{ path: '/in/a', hash: FILE }, { path: '/in/a', hash: OTHER }] }))
    expect(twice).toMatchObject({ code: 'invalid_manifest', message: expect.stringContaining('/in/a twice') })
    const folder = errorOf(() => parseManifest({ ...base, inputs: [{ path: '/in/a', hash: FILE }, { path: '/in/a.txt', hash: FILE }, { path: '/in/a/b', hash: OTHER }] }))
    expect(folder).toMatchObject({ code: 'invalid_manifest', message: expect.stringContaining('/in/a as a file and as a folder') })
  })

  it('refuses an unknown profile, a zero fuel budget and more than 256 inputs', () => {
    expect(errorOf(() => parseManifest({ ...base, profile: 'fast' })).code).toBe('invalid_manifest')
    expect(errorOf(() => parseManifest({ ...base, limits: { fuel: 0 } })).code).toBe('invalid_manifest')
    const many = Array.from({ length: 257 }, (_, i) => ({ path: `/in/f${i}`, hash: FILE }))
    expect(errorOf(() => parseManifest({ ...base, inputs: many })).code).toBe('invalid_manifest')
  })

  it('covers the input files in the inputs hash, in path order, and leaves a job without files unchanged', () => {
    const none: Manifest = { ...base, version: 1 }
    expect(inputsHashOf({ ...none, inputs: [] })).toBe(inputsHashOf(none))
    const ab: Manifest = { ...none, inputs: [{ path: '/in/a', hash: FILE }, { path: '/in/b', hash: OTHER }] }
    const ba: Manifest = { ...none, inputs: [{ path: '/in/b', hash: OTHER }, { path: '/in/a', hash: FILE }] }
    expect(inputsHashOf(ab)).toBe(inputsHashOf(ba))
    expect(inputsHashOf(ab)).not.toBe(inputsHashOf(none))
    const swapped: Manifest = { ...none, inputs: [{ path: '/in/a', hash: OTHER }, { path: '/in/b', hash: FILE }] }
    expect(inputsHashOf(swapped)).not.toBe(inputsHashOf(ab))
    expect(inputsHashOf(ab)).toBe(contentHashNode(Buffer.from(`{"args":[],"env":{},"inputs":[{"hash":"${FILE}","path":"/in/a"},{"hash":"${OTHER}","path":"/in/b"}],"stdin":""}`)))
  })
})
