/**
 * The shared waitFor helper: returns the first value that holds, and fails with a message that
 * names what it waited for once the deadline passes.
 */
import { describe, it, expect } from '@jest/globals'
import { waitFor } from './wait-for.ts'

describe('waitFor', () => {
  it('returns the first value that is not false, undefined or null', async () => {
    let calls = 0
    const value = await waitFor(() => ++calls >= 3 ? { calls } : undefined, { what: 'three calls', intervalMs: 1 })
    expect(value).toEqual({ calls: 3 })
  })

  it('treats a probe that throws as not yet', async () => {
    let calls = 0
    const value = await waitFor(async () => { if (++calls < 3) throw new Error('refused'); return calls }, { what: 'a probe that stops throwing', intervalMs: 1 })
    expect(value).toBe(3)
  })

  it('fails with wait_timeout naming what it waited for and the last value when the deadline passes', async () => {
    const err = await waitFor(() => false, { what: 'the impossible', timeoutMs: 50, intervalMs: 5, detail: () => 'context line' }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'wait_timeout', name: 'WaitTimeoutError' })
    expect((err as Error).message).toMatch(/waiting for the impossible; last value: false\ncontext line/)
  })
})
