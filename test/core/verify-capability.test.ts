/**
 * Capability records are verified on their exact bytes, like receipts: the record's canonical
 * JSON (RFC 8785), checked in the order format → canonical → peer_id → signature → expired.
 */
import { describe, it, expect } from '@jest/globals'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { canonicalBytes, canonicalize } from '../../services/core/protocol/src/canonical.ts'
import { signCapability, verifyCapability, type CapabilityRecord, type UnsignedCapability } from '../../services/core/protocol/src/crypto/capability.ts'

const NOW = 1_735_689_600_000
const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3))
const otherKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(4))
const peerId = peerIdFromPrivateKey(key).toString()
const FIELDS: UnsignedCapability = {
  version: 1,
  receipt_public_key: '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c',
  runtimes: [{ name: 'v8-wasm', version: '24.21.0' }],
  arch: 'x64',
  cores: 2,
  memory_mb: 4096,
  limits: { max_memory_mb: 256, max_timeout_ms: 30000, max_output_bytes: 1048576, max_module_bytes: 16777216 },
  queue_depth: 0,
  protocols: ['/phase/job/1.0.0']
}
const record = await signCapability(key, peerId, FIELDS, NOW - 1000)
const text = canonicalize(record)
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

async function checkOf (input: Uint8Array | string, expected = peerId): Promise<string> {
  try {
    await verifyCapability(input, expected, NOW)
    return 'verified'
  } catch (err) {
    expect((err as { code: string }).code).toBe('verification_failed')
    return (err as { check: string }).check
  }
}

describe('verifyCapability', () => {
  it('returns the record, frozen, when given its canonical bytes or text (one trailing line feed tolerated)', async () => {
    for (const input of [canonicalBytes(record), text, `${text}\n`]) {
      const verified = await verifyCapability(input, peerId, NOW)
      expect(verified).toEqual(record)
      expect(Object.isFrozen(verified.limits)).toBe(true)
    }
  })

  it('refuses the record as JSON.stringify writes it — what the p2p protocol used to send — at the canonical check', async () => {
    expect(JSON.stringify(record)).not.toBe(text)
    expect(await checkOf(enc(JSON.stringify(record)))).toBe('canonical')
  })

  it.each([
    ['pretty-printed', (): string => JSON.stringify(JSON.parse(text), null, 2)],
    ['a byte order mark', (): string => `\uFEFF${text}`],
    ['an integer as 2.0', (): string => text.replace('"cores":2', '"cores":2.0')],
    ['an escaped letter', (): string => text.replace('"x64"', '"\\u0078\\u0036\\u0034"')],
    ['a repeated receipt key, the first another', (): string => `{"receipt_public_key":"${'ab'.repeat(32)}",${text.slice(1)}`],
    ['two trailing line feeds', (): string => `${text}\n\n`]
  ])('refuses %s at the canonical check', async (_what, respell) => {
    expect(await checkOf(respell())).toBe('canonical')
  })

  it('refuses a parsed object, and text that is not a record, at the format check', async () => {
    expect(await checkOf(record as never)).toBe('format')
    expect(await checkOf('{"version":1')).toBe('format')
    expect(await checkOf(canonicalize({ ...record, extra: 1 }))).toBe('format')
  })

  it('checks the format before the canonical form, and the canonical form before the peer id', async () => {
    expect(await checkOf(JSON.stringify({ ...record, extra: 1 }, null, 1))).toBe('format')
    expect(await checkOf(` ${text}`, peerIdFromPrivateKey(otherKey).toString())).toBe('canonical')
  })

  it('still names the peer id, the signature and the expiry', async () => {
    const other = peerIdFromPrivateKey(otherKey).toString()
    expect(await checkOf(text, other)).toBe('peer_id')
    const forged: CapabilityRecord = await signCapability(otherKey, peerId, FIELDS, NOW - 1000)
    expect(await checkOf(canonicalize(forged))).toBe('signature')
    const swapped = { ...record, receipt_public_key: 'ab'.repeat(32) }
    expect(await checkOf(canonicalize(swapped))).toBe('signature')
    expect(await checkOf(canonicalize(await signCapability(key, peerId, FIELDS, NOW - 1000, 1000)))).toBe('expired')
  })
})
