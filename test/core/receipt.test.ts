import { describe, it, expect } from '@jest/globals'
import { parseReceipt, validateUnsignedReceipt, MAX_RECEIPT_BYTES } from '../../services/core/protocol/src/documents/index.ts'
import { canonicalize } from '../../services/core/protocol/src/canonical.ts'
import { largestReceipt, unsignedReceipt } from './receipt-fixture.ts'

const KEY = 'a'.repeat(64)
const SIG = 'b'.repeat(128)
const LIMITS = { memory_bytes: 64 << 20, timeout_ms: 5000, output_bytes: 1 << 20 }
const OUT_A = { path: '/out/a.txt', hash: `sha256:${'a'.repeat(64)}`, bytes: 3 }
const OUT_B = { path: '/out/b/c.txt', hash: `sha256:${'b'.repeat(64)}`, bytes: 0 }

function errorOf (fn: () => unknown): { code: string, message: string } {
  try { fn() } catch (err) { return err as { code: string, message: string } }
  throw new Error('expected an error')
}

describe('validateUnsignedReceipt', () => {
  it('returns the receipt when every field is valid', () => {
    const receipt = unsignedReceipt(KEY)
    expect(validateUnsignedReceipt(receipt)).toBe(receipt)
  })

  it('accepts every status, and exit code -1 when the module did not exit', () => {
    for (const status of ['ok', 'exit', 'trap', 'timeout', 'memory_limit', 'output_limit'] as const) {
      expect(() => validateUnsignedReceipt(unsignedReceipt(KEY, { status, exit_code: -1 }))).not.toThrow()
    }
    // Only a metered job can run out of fuel.
    expect(() => validateUnsignedReceipt(unsignedReceipt(KEY, { status: 'fuel_exhausted', exit_code: -1, limits: { ...LIMITS, fuel: 1000 }, fuel_used: 1000 }))).not.toThrow()
  })

  it('accepts every issue-12 member: outputs, fuel, the deterministic profile, a trap reason, compile time', () => {
    const receipt = unsignedReceipt(KEY, {
      status: 'trap',
      exit_code: -1,
      trap: 'stack_overflow',
      limits: { ...LIMITS, fuel: 1_000_000 },
      fuel_used: 12_345,
      profile: 'deterministic',
      compile_time_us: 877_000,
      outputs: [OUT_A, OUT_B]
    })
    expect(validateUnsignedReceipt(receipt)).toBe(receipt)
    // A metered job whose count is unknown (killed at its time limit) states its budget alone.
    const timedOut = unsignedReceipt(KEY, { status: 'timeout', exit_code: -1, limits: { ...LIMITS, fuel: 10 }, profile: 'deterministic' })
    expect(validateUnsignedReceipt(timedOut)).toBe(timedOut)
  })

  it('bounds the largest valid receipt under MAX_RECEIPT_BYTES (128 KiB)', () => {
    const largest = { ...largestReceipt(KEY), signature: SIG }
    expect(() => parseReceipt(largest)).not.toThrow()
    const bytes = Buffer.byteLength(canonicalize(largest))
    expect(bytes).toBeGreaterThan(90 * 1024)
    expect(bytes).toBeLessThan(MAX_RECEIPT_BYTES)
    expect(MAX_RECEIPT_BYTES).toBe(128 * 1024)
  })

  it.each([
    ['a trap reason with status ok', { trap: 'unreachable' }, '/status must be equal to constant'],
    ['an unknown trap reason', { status: 'trap', exit_code: -1, trap: 'segfault' }, '/trap must be equal to one of the allowed values'],
    ['fuel used without a fuel limit', { fuel_used: 10 }, '/limits/fuel is required'],
    ['the deterministic profile unmetered', { profile: 'deterministic' }, '/limits/fuel is required'],
    ['status fuel_exhausted unmetered', { status: 'fuel_exhausted', exit_code: -1 }, '/limits/fuel is required'],
    ['the default profile spelled out', { profile: 'default' }, '/profile must be equal to constant'],
    ['an output outside /out', { outputs: [{ ...OUT_A, path: '/in/a.txt' }] }, '/outputs/0/path has the wrong format'],
    ['an output path with ..', { outputs: [{ ...OUT_A, path: '/out/../etc/passwd' }] }, '/outputs/0/path has the wrong format'],
    ['an output path of 256 characters', { outputs: [{ ...OUT_A, path: `/out/${'a'.repeat(251)}` }] }, '/outputs/0/path must NOT have more than 255 characters'],
    ['257 outputs', { outputs: Array.from({ length: 257 }, (_, i) => ({ ...OUT_A, path: `/out/${String(i).padStart(3, '0')}` })) }, '/outputs must NOT have more than 256 items'],
    ['unsorted outputs', { outputs: [OUT_B, OUT_A] }, '/outputs/1 (/out/a.txt) comes before /outputs/0 (/out/b/c.txt): outputs must be sorted by path'],
    ['an output listed twice (other hash)', { outputs: [OUT_A, { ...OUT_A, hash: `sha256:${'0'.repeat(64)}` }] }, '/outputs/1 repeats the path /out/a.txt'],
    ['an output with a fractional size', { outputs: [{ ...OUT_A, bytes: 1.5 }] }, '/outputs/0/bytes must be integer']
  ])('rejects %s with invalid_receipt naming the field', (_what, fields: Record<string, unknown>, message) => {
    const err = errorOf(() => validateUnsignedReceipt({ ...unsignedReceipt(KEY), ...fields }))
    expect(err.code).toBe('invalid_receipt')
    expect(err.message).toContain(message)
  })

  it.each([
    ['a signature field', { signature: SIG }, 'must not carry a signature'],
    ['an unknown field', { fuel: 1 }, "(top level) has unknown field 'fuel'"],
    ['an unknown status', { status: 'crashed' }, '/status must be equal to one of the allowed values'],
    ['a fractional time', { wall_time_us: 1.5 }, '/wall_time_us must be integer'],
    ['a negative byte count', { stdout_bytes: -1 }, '/stdout_bytes must be >= 0'],
    ['an exit code below -1', { exit_code: -2 }, '/exit_code must be >= -1'],
    ['a bad hash', { stdout_hash: 'sha256:xyz' }, '/stdout_hash must be "sha256:"'],
    ['a local-time timestamp', { started_at: '2025-01-01T00:00:00+02:00' }, '/started_at must be an RFC 3339 UTC time'],
    ['an impossible date', { finished_at: '2025-13-01T00:00:00Z' }, '/finished_at must be an RFC 3339 UTC time'],
    ['an uppercase public key', { node: { peer_id: '12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba', public_key: 'A'.repeat(64) } }, '/node/public_key must be 64 lowercase hex'],
    ['a missing runtime', { runtime: undefined }, '/runtime']
  ])('rejects %s with invalid_receipt naming the field', (_what, fields: Record<string, unknown>, message) => {
    // A field set to undefined is left out, as JSON would.
    const receipt = JSON.parse(JSON.stringify({ ...unsignedReceipt(KEY), ...fields }))
    const err = errorOf(() => validateUnsignedReceipt(receipt))
    expect(err.code).toBe('invalid_receipt')
    expect(err.message).toContain(message)
  })
})

describe('parseReceipt', () => {
  it('returns a frozen receipt when given signed JSON text, bytes or a value', () => {
    const signed = { ...unsignedReceipt(KEY), signature: SIG }
    for (const input of [JSON.stringify(signed), Buffer.from(JSON.stringify(signed)), signed]) {
      const receipt = parseReceipt(input)
      expect(receipt).toEqual(signed)
      expect(Object.isFrozen(receipt.node)).toBe(true)
    }
    expect(Object.isFrozen(signed)).toBe(false)
  })

  it('rejects a receipt without a signature', () => {
    const err = errorOf(() => parseReceipt(unsignedReceipt(KEY)))
    expect(err.code).toBe('invalid_receipt')
    expect(err.message).toContain('/signature is required')
  })

  it.each([
    ['truncated', SIG.slice(2)], ['uppercase', SIG.toUpperCase()], ['non-hex', `${SIG.slice(1)}z`]
  ])('rejects a %s signature', (_what, signature) => {
    const err = errorOf(() => parseReceipt({ ...unsignedReceipt(KEY), signature }))
    expect(err.code).toBe('invalid_receipt')
    expect(err.message).toContain('/signature must be 128 lowercase hex')
  })

  it('rejects malformed JSON with invalid_json', () => {
    expect(errorOf(() => parseReceipt('{"version":')).code).toBe('invalid_json')
  })

  it('rejects a string with a lone surrogate, which could be neither canonicalized nor signed', () => {
    const err = errorOf(() => parseReceipt(`{${JSON.stringify({ ...unsignedReceipt(KEY), signature: SIG }).slice(1).replace('"v8-wasm"', '"\\ud800"')}`))
    expect(err.code).toBe('invalid_receipt')
    expect(err.message).toContain('/runtime/name is not well-formed Unicode')
  })
})
