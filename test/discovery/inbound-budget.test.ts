/** InboundBudget: bytes from peers charged as they arrive, capped in all and per peer, given back. */
import { describe, it, expect } from '@jest/globals'
import { InboundBudget } from '../../services/discovery/src/p2p/inbound-budget.ts'

/** The part of a libp2p stream the budget uses: message events and abort. */
class FakeStream extends EventTarget {
  aborted: Error | undefined
  received = 0
  constructor () {
    super()
    // The reader, registered after the budget (as in the job protocol).
    queueMicrotask(() => this.addEventListener('message', (e) => { this.received += (e as unknown as { data: Uint8Array }).data.byteLength }))
  }

  abort (err: Error): void { this.aborted = err }
  async push (n: number): Promise<void> {
    await Promise.resolve()
    const e = new Event('message') as Event & { data: Uint8Array }
    e.data = new Uint8Array(n)
    this.dispatchEvent(e)
  }
}

describe('InboundBudget', () => {
  it('aborts a stream whose bytes pass the peer\'s half, before its reader buffers them', async () => {
    const budget = new InboundBudget({ maxBytes: 1000 })
    const s = new FakeStream()
    budget.meter(s as never, 'a')
    await s.push(400)
    expect(s.aborted).toBeUndefined()
    await s.push(200)
    expect(s.aborted).toMatchObject({ code: 'queue_full' })
    expect(s.received).toBe(400)
    expect(budget.inFlight).toBe(0)
  })

  it('gives every byte back when the stream is done', async () => {
    const budget = new InboundBudget({ maxBytes: 1000 })
    const s = new FakeStream()
    const done = budget.meter(s as never, 'a')
    await s.push(300)
    expect(budget.inFlight).toBe(300)
    done()
    done()
    expect(budget.inFlight).toBe(0)
    expect(budget.holders).toBe(0)
  })

  it('lets a small peer in when flooders fill the budget, by aborting the largest flooder streams', async () => {
    const budget = new InboundBudget({ maxBytes: 1000 })
    const flood = [new FakeStream(), new FakeStream(), new FakeStream(), new FakeStream()]
    flood.forEach((s, i) => budget.meter(s as never, `flooder-${i % 2}`))
    for (const s of flood) await s.push(250)
    expect(budget.inFlight).toBe(1000)
    const small = new FakeStream()
    budget.meter(small as never, 'honest')
    await small.push(10)
    expect(small.aborted).toBeUndefined()
    expect(flood.filter((s) => s.aborted !== undefined)).toHaveLength(1)
    expect(budget.inFlight).toBe(760)
  })

  it('refuses a peer above its fair share when the budget is full', async () => {
    const budget = new InboundBudget({ maxBytes: 1000 })
    const a = new FakeStream()
    const b = new FakeStream()
    budget.meter(a as never, 'a')
    budget.meter(b as never, 'b')
    await a.push(500)
    await b.push(500)
    const more = new FakeStream()
    budget.meter(more as never, 'a')
    await more.push(1)
    expect(more.aborted).toMatchObject({ code: 'queue_full' })
    expect(a.aborted).toBeUndefined()
    expect(b.aborted).toBeUndefined()
  })
})
