/** PeerLimiter: per-peer concurrency and rate, refilled over time, with bounded memory. */
import { describe, it, expect } from '@jest/globals'
import { PeerLimiter } from '../../services/discovery/src/p2p/peer-limits.ts'

describe('PeerLimiter', () => {
  it('refuses a peer past its concurrency while another peer is served', () => {
    const limiter = new PeerLimiter({ concurrency: 2, perSecond: 100 })
    const a1 = limiter.acquire('a', 0)
    limiter.acquire('a', 0)
    expect(() => limiter.acquire('a', 0)).toThrow(expect.objectContaining({ code: 'queue_full' }))
    expect(() => limiter.acquire('b', 0)).not.toThrow()
    a1()
    a1()
    expect(() => limiter.acquire('a', 0)).not.toThrow()
  })

  it('refuses a peer past its rate and lets it back in as tokens refill', () => {
    const limiter = new PeerLimiter({ concurrency: 100, perSecond: 5 })
    for (let i = 0; i < 10; i++) limiter.acquire('a', 1000)()
    expect(() => limiter.acquire('a', 1000)).toThrow(/more than 5 jobs\/s/)
    expect(() => limiter.acquire('a', 1200)).not.toThrow()
  })

  it('forgets idle peers beyond its bound', () => {
    const limiter = new PeerLimiter({ concurrency: 1, perSecond: 1, maxPeers: 3 })
    for (const p of ['a', 'b', 'c', 'd', 'e']) limiter.acquire(p, 0)()
    expect(limiter.size).toBe(3)
  })
})
