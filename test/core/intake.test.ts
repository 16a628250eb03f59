/** Intake: one budget of buffered request bytes, a minimum rate after a grace period, a deadline. */
import { describe, it, expect } from '@jest/globals'
import { Intake } from '../../services/core/rpc/src/intake.ts'
import type { PhaseError } from '../../services/core/protocol/src/errors.ts'

async function failureOf (intake: Intake, feed?: (u: ReturnType<Intake['begin']>) => void): Promise<PhaseError> {
  return await new Promise((resolve) => {
    const upload = intake.begin(resolve)
    feed?.(upload)
  })
}

describe('Intake', () => {
  it('refuses a reservation past the budget with overloaded, and takes it again once another request is released', () => {
    const intake = new Intake({ maxBufferedBytes: 100 })
    const failures: string[] = []
    const a = intake.begin((e) => failures.push(e.code))
    const b = intake.begin((e) => failures.push(e.code))
    expect(a.reserve(60)).toBe(true)
    expect(b.reserve(50)).toBe(false)
    expect(failures).toEqual(['overloaded'])
    expect(intake.bufferedBytes).toBe(60)
    a.release()
    a.release()
    expect(intake.bufferedBytes).toBe(0)
    const c = intake.begin((e) => failures.push(e.code))
    expect(c.reserve(100)).toBe(true)
    c.release()
    intake.close()
  })

  it('ends a request that arrives below the minimum rate with request_timeout after the grace period', async () => {
    const intake = new Intake({ graceMs: 200, minBytesPerSecond: 1000, timeoutMs: 60_000 })
    const started = performance.now()
    const err = await failureOf(intake, (u) => { u.arrived(10) })
    expect(err.code).toBe('request_timeout')
    expect(performance.now() - started).toBeGreaterThanOrEqual(200)
    intake.close()
  })

  it('ends a request that takes longer than the deadline even at a good rate, and stops timing one that arrived', async () => {
    const intake = new Intake({ graceMs: 60_000, minBytesPerSecond: 1, timeoutMs: 200 })
    let done = false
    const finished = intake.begin(() => { done = true })
    finished.received()
    const err = await failureOf(intake)
    expect(err.code).toBe('request_timeout')
    expect(done).toBe(false)
    expect(intake.receivingCount).toBe(0)
    intake.close()
  })
})
