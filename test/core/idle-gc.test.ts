/**
 * core/idle-gc.ts: one full collection when a process goes quiet after a busy period, none while
 * it stays idle or keeps working, and nothing at all without --expose-gc.
 */
import { describe, it, expect, afterEach } from '@jest/globals'
import { collectWhenIdle } from '../../services/core/process/src/idle-gc.ts'
import { waitFor } from '../helpers/wait-for.ts'

const g = globalThis as { gc?: () => void }
const original = g.gc
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
/** Keeps the CPU busy for `ms` in slices, so timers still run. */
async function work (ms: number): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const slice = Date.now() + 20
    while (Date.now() < slice) { /* busy */ }
    await sleep(0)
  }
}

describe('collectWhenIdle', () => {
  afterEach(() => { g.gc = original })

  it('collects once when the process goes quiet after work, not while idle', async () => {
    let collections = 0
    g.gc = () => { collections++ }
    // The CPU the helper sees is scripted (a loaded machine gives a busy loop any share of a core):
    // each window of 20 ms adds `perWindowUs`; busy above 30% of the window, quiet below 20%.
    let cpuUs = 0
    let perWindowUs = 0
    const windows = async (n: number, us: number): Promise<void> => {
      perWindowUs = us
      const target = seen + n
      await waitFor(() => seen >= target, { what: `${n} windows`, timeoutMs: 10_000, intervalMs: 5 })
    }
    let seen = 0
    const stop = collectWhenIdle({ everyMs: 20, busyShare: 0.3, quietShare: 0.2, cpuUsage: () => { seen++; cpuUs += perWindowUs; return cpuUs } })
    try {
      await windows(5, 1000) // idle (5% of a window): nothing to collect
      expect(collections).toBe(0)
      await windows(5, 10_000) // busy (50%): no collection while working
      expect(collections).toBe(0)
      await windows(2, 1000) // quiet again: one collection
      expect(collections).toBe(1)
      await windows(5, 1000) // still quiet: still one
      expect(collections).toBe(1)
      await windows(3, 5000) // neither busy nor quiet (25%): nothing changes
      expect(collections).toBe(1)
      await windows(2, 10_000)
      await windows(2, 0) // worked again, quiet again: a second one
      expect(collections).toBe(2)
    } finally {
      stop()
    }
  })

  it('does nothing without --expose-gc', async () => {
    g.gc = undefined
    const stop = collectWhenIdle({ everyMs: 50 })
    await work(200)
    await sleep(200) // a quiet window passes: without gc there is nothing to call
    stop()
    expect(g.gc).toBeUndefined()
  })
})
