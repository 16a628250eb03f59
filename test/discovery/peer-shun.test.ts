/** RefusalCounter and ShunList (peer-shun.ts): thresholds within a window, expiry, bounded maps. */
import { describe, it, expect } from '@jest/globals'
import { DHT_REQUESTS_PER_PEER_PER_S } from '../../services/discovery/src/p2p/peer-limits.ts'
import { MAX_SHUN_PEERS, REFUSALS_TO_SHUN, RefusalCounter, SHUN_WINDOW_MS, ShunList } from '../../services/discovery/src/p2p/peer-shun.ts'

describe('RefusalCounter', () => {
  it('reaches the threshold only within one window, then counts again from zero', () => {
    const c = new RefusalCounter({ refusals: 3, windowMs: 1000 })
    expect([c.note('a', 0), c.note('a', 10), c.note('a', 999)]).toEqual([false, false, true])
    expect([c.note('a', 1000), c.note('a', 1001)]).toEqual([false, false])
    // A new window starts at the first refusal after the last one ended.
    expect(c.note('a', 2000)).toBe(false)
    expect([c.note('a', 2001), c.note('a', 2002)]).toEqual([false, true])
    expect(c.note('b', 2002)).toBe(false)
  })

  it('defaults: at least a whole window of the DHT allowance refused', () => {
    const c = new RefusalCounter()
    let reached = -1
    for (let i = 1; i <= REFUSALS_TO_SHUN; i++) if (c.note('a', i) && reached < 0) reached = i
    expect(reached).toBe(REFUSALS_TO_SHUN)
    expect(REFUSALS_TO_SHUN).toBeGreaterThanOrEqual(DHT_REQUESTS_PER_PEER_PER_S * SHUN_WINDOW_MS / 1000)
  })

  it('tracks at most maxPeers peers (the oldest forgotten)', () => {
    const c = new RefusalCounter({ refusals: 2, maxPeers: 3 })
    for (const p of ['a', 'b', 'c', 'd', 'e']) c.note(p, 0)
    expect(c.size).toBe(3)
    // 'a' was forgotten: its next refusal is its first again.
    expect(c.note('a', 1)).toBe(false)
    expect(c.note('e', 1)).toBe(true)
  })
})

describe('ShunList', () => {
  it('holds a peer until its time, then lets it go', () => {
    const s = new ShunList()
    s.add('a', 5000)
    expect(s.has('a', 0)).toBe(true)
    expect(s.has('a', 4999)).toBe(true)
    expect(s.has('b', 0)).toBe(false)
    expect(s.has('a', 5000)).toBe(false)
    expect(s.size).toBe(0)
    s.add('b', 100); s.add('c', 200)
    expect([s.active(50), s.active(150), s.active(200)]).toEqual([2, 1, 0])
  })

  it('holds at most maxPeers (the first added forgotten first)', () => {
    const s = new ShunList({ maxPeers: 2 })
    s.add('a', 100); s.add('b', 100); s.add('c', 100)
    expect(s.size).toBe(2)
    expect([s.has('a', 0), s.has('b', 0), s.has('c', 0)]).toEqual([false, true, true])
    expect(new ShunList().size).toBe(0)
    expect(MAX_SHUN_PEERS).toBeGreaterThan(0)
  })
})
