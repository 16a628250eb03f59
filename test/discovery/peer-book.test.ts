import { describe, it, expect } from '@jest/globals'
import { PeerBook } from '../../services/discovery/src/p2p/peer-book.ts'

describe('PeerBook', () => {
  it('is usable only while the peer is connected and not gone, and forgets what was kept of it when it goes', () => {
    let connection: 'live' | 'open' | undefined = 'live'
    const forgotten: string[] = []
    const book = new PeerBook({ connection: () => connection, ping: async () => {}, forget: (p) => { forgotten.push(p) } })
    expect(book.usable('p')).toBe(true)
    connection = undefined
    expect(book.usable('p')).toBe(false)
    connection = 'live'
    book.gone('p')
    expect(book.usable('p')).toBe(false)
    expect(book.isGone('p')).toBe(true)
    expect(forgotten).toEqual(['p'])
    book.seen('p')
    expect(book.usable('p')).toBe(true)
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
