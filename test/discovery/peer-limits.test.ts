/** PeerLimiter: per-peer concurrency and rate, refilled over time, with bounded memory. */
import { describe, it, expect, jest, beforeEach, afterEach } from '@jest/globals'
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
  beforeEach(() => { jest.useFakeTimers({ now: 1_000_000 }) })
  afterEach(() => { jest.useRealTimers() })

  it("holds one peer's inbound DHT requests to its rate; other peers are answered; it refills", async () => {
    const answered: string[] = []
    const refusals: string[] = []
    const rpc = { handleMessage: async (p: { toString: () => string }, m: unknown) => { answered.push(p.toString()); return m } }
    const limit = limitDhtRequests(rpc, { perPeer: { perSecond: 10, concurrency: 4 }, onRefused: (p, reason) => { refusals.push(`${p}: ${reason}`) } })
    expect(limit.installed).toBe(true)
    // The burst (2 s worth) in a row, then refused.
    for (let i = 0; i < 20; i++) await rpc.handleMessage(peer('a'), i)
    await expect(rpc.handleMessage(peer('a'), 20)).rejects.toMatchObject({ code: 'queue_full', message: expect.stringMatching(/more than 10 DHT requests\/s/) })
    expect(refusals).toEqual([expect.stringMatching(/^a: peer sends more than 10 DHT requests\/s/)])
    expect(await rpc.handleMessage(peer('b'), 'x')).toBe('x')
    // A tenth of a second refills one.
    jest.advanceTimersByTime(100)
    expect(await rpc.handleMessage(peer('a'), 'refilled')).toBe('refilled')
    await expect(rpc.handleMessage(peer('a'), 22)).rejects.toMatchObject({ code: 'queue_full' })
    expect(limit.refused()).toBe(2)
    limit.undo()
    expect(await rpc.handleMessage(peer('a'), 'after')).toBe('after')
  })

  it('holds all peers together to their own bound (many PeerIds, each within its rate)', async () => {
    const rpc = { handleMessage: async (_p: unknown, m: unknown) => m }
    const limit = limitDhtRequests(rpc, { perPeer: { perSecond: 10, concurrency: 4 }, all: { perSecond: 25, concurrency: 100 } })
    let answered = 0
    for (let i = 0; i < 60; i++) await rpc.handleMessage(peer(`p${i}`), i).then(() => { answered++ }, () => {})
    expect(answered).toBe(50)
    expect(limit.refused()).toBe(10)
  })

  it('refuses past the concurrency while the slow ones run, and frees the slots as they end, also when one fails', async () => {
    let open = 0
    const gate: Array<(ok: boolean) => void> = []
    const rpc = {
      handleMessage: async (_p: unknown, _m: unknown) => {
        open++
        const ok = await new Promise<boolean>((resolve) => gate.push(resolve))
        open--
        if (!ok) throw new Error('handler failed')
        return 'ok'
      }
    }
    const limit = limitDhtRequests(rpc, { perPeer: { perSecond: 1000, concurrency: 2 } })
    const first = [rpc.handleMessage(peer('a'), 1), rpc.handleMessage(peer('a'), 2)]
    await expect(rpc.handleMessage(peer('a'), 3)).rejects.toMatchObject({ code: 'queue_full' })
    expect(open).toBe(2)
    gate.shift()!(true)
    gate.shift()!(false)
    await first[0]
    await expect(first[1]).rejects.toThrow('handler failed')
    const again = [rpc.handleMessage(peer('a'), 4), rpc.handleMessage(peer('a'), 5)]
    for (const release of gate.splice(0)) release(true)
    expect(await Promise.all(again)).toEqual(['ok', 'ok'])
    expect(limit.refused()).toBe(1)
  })

  it('says when a peer has been refused its threshold within a window, once, and not for the all-peers bound', async () => {
    const shunned: string[] = []
    const rpc = { handleMessage: async (_p: { toString: () => string }, m: unknown) => m }
    limitDhtRequests(rpc, {
      perPeer: { perSecond: 1, concurrency: 100 },
      all: { perSecond: 1000, concurrency: 1000 },
      shun: { refusals: 5, windowMs: 10_000 },
      onShun: (p) => { shunned.push(p) }
    })
    const send = async (id: string, n: number): Promise<void> => { for (let i = 0; i < n; i++) await rpc.handleMessage(peer(id), i).catch(() => {}) }
    // Burst 2 answered, then 4 refusals: under the threshold.
    await send('a', 6)
    expect(shunned).toEqual([])
    await send('a', 1)
    expect(shunned).toEqual(['a'])
    // Counting starts again: four more refusals say nothing, the fifth says it again.
    await send('a', 4)
    expect(shunned).toEqual(['a'])
    await send('a', 1)
    expect(shunned).toEqual(['a', 'a'])
    // Refusals spread over windows never add up to the threshold.
    for (let i = 0; i < 8; i++) { jest.advanceTimersByTime(2_600); await send('b', 3) }
    expect(shunned).toEqual(['a', 'a'])
    // Refused by the all-peers bound only: not the peer's doing.
    const shared: string[] = []
    const rpc2 = { handleMessage: async (_p: { toString: () => string }, m: unknown) => m }
    limitDhtRequests(rpc2, { all: { perSecond: 1, concurrency: 100 }, shun: { refusals: 3 }, onShun: (p) => { shared.push(p) } })
    for (let i = 0; i < 20; i++) await rpc2.handleMessage(peer(`p${i % 2}`), i).catch(() => {})
    expect(shared).toEqual([])
  })

  it('refuses a cut-off peer before its bucket is touched, and serves it again once let back', async () => {
    const cut = new Set(['a'])
    const answered: string[] = []
    const rpc = { handleMessage: async (p: { toString: () => string }, m: unknown) => { answered.push(p.toString()); return m } }
    const limit = limitDhtRequests(rpc, { perPeer: { perSecond: 1, concurrency: 1 }, isShunned: (p) => cut.has(p) })
    for (let i = 0; i < 5; i++) await expect(rpc.handleMessage(peer('a'), i)).rejects.toThrow(/cut off/)
    await rpc.handleMessage(peer('b'), 0)
    expect(answered).toEqual(['b'])
    expect(limit.refused()).toBe(5)
    cut.delete('a')
    // Its bucket was never spent while it was cut off: its whole burst is there.
    await rpc.handleMessage(peer('a'), 1)
    await rpc.handleMessage(peer('a'), 2)
    expect(answered).toEqual(['b', 'a', 'a'])
  })

  it('installs nothing on a kad-dht without the hook', () => {
    expect(limitDhtRequests(undefined).installed).toBe(false)
    expect(limitDhtRequests({} as never).installed).toBe(false)
  })
})
