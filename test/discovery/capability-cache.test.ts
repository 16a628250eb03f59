import { describe, it, expect } from '@jest/globals'
import { CapabilityCache } from '../../services/discovery/src/p2p/capability-cache.ts'
import type { CapabilityRecord } from '../../services/core/protocol/src/crypto/capability.ts'

const record = (peer: string, expiresAt = Date.now() + 600_000): CapabilityRecord => ({
  version: 1, peer_id: peer, receipt_public_key: 'ab', runtimes: [{ name: 'v8-wasm', version: '1' }], arch: 'x64', cores: 2, memory_mb: 1024,
  limits: { max_memory_mb: 64, max_timeout_ms: 1000, max_output_bytes: 1024, max_module_bytes: 1024 }, queue_depth: 0, protocols: [], issued_at: 0, expires_at: expiresAt, signature: ''
})

/** A cache whose peers answer with `answer` (counted), all usable unless `usable` says otherwise. */
function cacheOf (answer: (peer: string) => CapabilityRecord, init: ConstructorParameters<typeof CapabilityCache>[1] = {}, usable: (peer: string) => boolean = () => true): { cache: CapabilityCache, fetches: string[] } {
  const fetches: string[] = []
  const cache = new CapabilityCache({
    fetch: async (peer) => { fetches.push(peer); return new TextEncoder().encode(JSON.stringify(answer(peer))) },
    verify: async (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as CapabilityRecord,
    usable
  }, init)
  return { cache, fetches }
}

describe('CapabilityCache', () => {
  it('keeps at most maxPeers records and maxRecordBytes bytes when many peers answer', () => {
    const { cache } = cacheOf(record, { maxPeers: 100, maxRecordBytes: 50_000 })
    for (let i = 0; i < 1000; i++) cache.remember(`p${i}`, record(`p${i}`), 600)
    expect(cache.size).toBeLessThanOrEqual(100)
    expect(cache.bytes).toBeLessThanOrEqual(50_000)
    // The most recent are kept.
    expect(cache.get('p999')).toBeDefined()
    expect(cache.get('p0')).toBeUndefined()
    // A record larger than the whole budget is not kept.
    cache.remember('huge', record('huge'), 60_000)
    expect(cache.known('huge')).toBeUndefined()
  })

  it('serves a record only while the peer is usable, and fetches it again otherwise', async () => {
    let usable = true
    const { cache, fetches } = cacheOf(record, {}, () => usable)
    await cache.verified('p', AbortSignal.timeout(1000))
    await cache.verified('p', AbortSignal.timeout(1000))
    expect(fetches).toEqual(['p'])
    usable = false
    expect(cache.get('p')).toBeUndefined()
    expect(cache.known('p')).toBeDefined()
    await cache.verified('p', AbortSignal.timeout(1000))
    expect(fetches).toEqual(['p', 'p'])
  })

  it('fetches a record again once it expired', async () => {
    const { cache, fetches } = cacheOf((p) => record(p, Date.now() + 50))
    const first = await cache.verified('p', AbortSignal.timeout(1000))
    expect(cache.get('p', first.expires_at)).toBeUndefined()
    expect(cache.get('p', first.expires_at - 1)).toBeDefined()
    expect(fetches).toEqual(['p'])
  })

  it('keeps nothing when the record fails verification', async () => {
    const cache = new CapabilityCache({ fetch: async () => new Uint8Array(10), verify: async () => { throw Object.assign(new Error('bad'), { code: 'verification_failed' }) }, usable: () => true })
    await expect(cache.verified('p', AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'verification_failed' })
    expect(cache.size).toBe(0)
  })

  it('drops a record it is told to forget, and its bytes', () => {
    const { cache } = cacheOf(record)
    cache.remember('p', record('p'), 600)
    cache.forget('p')
    expect(cache.size).toBe(0)
    expect(cache.bytes).toBe(0)
  })
})
