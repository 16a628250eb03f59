import { describe, it, expect } from '@jest/globals'
import { PeerBook } from '../../services/discovery/src/p2p/peer-book.ts'
import type { CapabilityRecord } from '../../services/core/protocol/src/crypto/capability.ts'

const record = (peer: string, expiresAt = Date.now() + 600_000): CapabilityRecord => ({
  version: 1, peer_id: peer, receipt_public_key: 'ab', runtimes: [{ name: 'v8-wasm', version: '1' }], arch: 'x64', cores: 2, memory_mb: 1024,
  limits: { max_memory_mb: 64, max_timeout_ms: 1000, max_output_bytes: 1024, max_module_bytes: 1024 }, queue_depth: 0, protocols: [], issued_at: 0, expires_at: expiresAt, signature: ''
})

describe('PeerBook', () => {
  it('keeps at most maxPeers records and maxRecordBytes bytes when many peers answer', () => {
    const book = new PeerBook({ connection: () => 'live', ping: async () => {} }, { maxPeers: 100, maxRecordBytes: 50_000 })
    for (let i = 0; i < 1000; i++) book.remember(`p${i}`, record(`p${i}`), 600)
    expect(book.size).toBeLessThanOrEqual(100)
    expect(book.bytes).toBeLessThanOrEqual(50_000)
    // The most recent are kept.
    expect(book.record('p999')).toBeDefined()
    expect(book.record('p0')).toBeUndefined()
    // A record larger than the whole budget is not kept.
    book.remember('huge', record('huge'), 60_000)
    expect(book.known('huge')).toBeUndefined()
  })

  it('serves a record only while the peer is connected and not gone', () => {
    let connection: 'live' | 'open' | undefined = 'live'
    const book = new PeerBook({ connection: () => connection, ping: async () => {} })
    book.remember('p', record('p'), 600)
    expect(book.record('p')).toBeDefined()
    connection = undefined
    expect(book.record('p')).toBeUndefined()
    connection = 'live'
    book.gone('p')
    expect(book.record('p')).toBeUndefined()
    expect(book.isGone('p')).toBe(true)
  })

  it('pings a peer on an open TCP connection that has been quiet, and marks it gone when the ping fails', async () => {
    let pings = 0
    const book = new PeerBook({ connection: () => 'open', ping: async () => { pings++; throw new Error('no answer') } }, { freshMs: 1000 })
    book.seen('p', Date.now() - 5000)
    expect(await book.alive('p')).toBe(false)
    expect(pings).toBe(1)
    expect(book.isGone('p')).toBe(true)
    // Gone: not dialed again.
    expect(await book.alive('p')).toBe(false)
    expect(pings).toBe(1)
    // Until it shows up.
    book.seen('p')
    expect(await book.alive('p')).toBe(true)
  })
})
