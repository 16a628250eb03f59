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
    const stop = collectWhenIdle({ everyMs: 200, busyShare: 0.3, quietShare: 0.2 })
    try {
      // The sleeps below are the point (idleness over time; the helper reads the real clock):
      // idle from the start, nothing to collect.
      await sleep(700)
      expect(collections).toBe(0)
      await work(700)
      // Generous: the machine is shared, a quiet window may take a few tries.
      await waitFor(() => collections > 0, { what: 'a collection once the process went quiet', timeoutMs: 10_000, intervalMs: 200 })
      expect(collections).toBe(1)
      // Quiet for four more windows: still one.
      await sleep(800)
      expect(collections).toBe(1)
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
