import { describe, it, expect } from '@jest/globals'
import { parseReceipt, validateUnsignedReceipt } from '../../services/core/src/documents/index.ts'
import { unsignedReceipt } from './receipt-fixture.ts'

const KEY = 'a'.repeat(64)
const SIG = 'b'.repeat(128)

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
    for (const status of ['ok', 'exit', 'trap', 'timeout', 'memory_limit', 'output_limit', 'fuel_exhausted'] as const) {
      expect(() => validateUnsignedReceipt(unsignedReceipt(KEY, { status, exit_code: -1 }))).not.toThrow()
    }
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
