/** PeerLimiter: per-peer concurrency and rate, refilled over time, with bounded memory. */
import { describe, it, expect } from '@jest/globals'
import { PeerLimiter, limitDhtRequests } from '../../services/discovery/src/p2p/peer-limits.ts'

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

describe('limitDhtRequests', () => {
  const peer = (id: string): { toString: () => string } => ({ toString: () => id })

  it("holds one peer's inbound DHT requests to its rate and concurrency; other peers are answered", async () => {
    const answered: string[] = []
    const rpc = { handleMessage: async (p: { toString: () => string }, m: unknown) => { answered.push(p.toString()); return m } }
    const limit = limitDhtRequests(rpc, { perSecond: 10, concurrency: 4, what: 'DHT requests' })
    expect(limit.installed).toBe(true)
    // Rate: the burst (2 s worth) in a row, then refused.
    let refusedA = 0
    for (let i = 0; i < 25; i++) {
      await rpc.handleMessage(peer('a'), i).catch((err: Error) => { refusedA++; expect(err.message).toMatch(/more than 10 DHT requests\/s/) })
    }
    expect(answered.filter((p) => p === 'a').length).toBeGreaterThanOrEqual(20)
    expect(refusedA).toBeGreaterThanOrEqual(4)
    expect(await rpc.handleMessage(peer('b'), 'x')).toBe('x')
    expect(limit.refused()).toBe(refusedA)
    limit.undo()
    expect(await rpc.handleMessage(peer('a'), 'after')).toBe('after')
  })

  it('refuses past the concurrency while the slow ones run, and frees the slots as they end', async () => {
    let open = 0
    const gate: Array<() => void> = []
    const rpc = { handleMessage: async (_p: unknown, _m: unknown) => { open++; await new Promise<void>((resolve) => gate.push(resolve)); open--; return 'ok' } }
    const limit = limitDhtRequests(rpc, { perSecond: 1000, concurrency: 2 })
    const first = [rpc.handleMessage(peer('a'), 1), rpc.handleMessage(peer('a'), 2)]
    await expect(rpc.handleMessage(peer('a'), 3)).rejects.toMatchObject({ code: 'queue_full' })
    expect(open).toBe(2)
    for (const release of gate.splice(0)) release()
    await Promise.all(first)
    const again = rpc.handleMessage(peer('a'), 4)
    for (const release of gate.splice(0)) release()
    expect(await again).toBe('ok')
    expect(limit.refused()).toBe(1)
  })

  it('installs nothing on a kad-dht without the hook', () => {
    expect(limitDhtRequests(undefined).installed).toBe(false)
    expect(limitDhtRequests({} as never).installed).toBe(false)
  })
})
