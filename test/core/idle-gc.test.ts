/**
 * core/idle-gc.ts: one memory-reducing full collection when a process goes quiet after a busy
 * period and, one quiet window later, glibc's free memory given back (malloc_trim); none while it
 * stays idle or keeps working; the trim alone without --expose-gc; nothing without either.
 */
import { describe, it, expect, afterEach } from '@jest/globals'
import { collectWhenIdle } from '../../services/core/process/src/idle-gc.ts'
import { waitFor } from '../helpers/wait-for.ts'

const g = globalThis as { gc?: (options?: unknown) => void }
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
    let trims = 0
    const options: unknown[] = []
    g.gc = (o) => { collections++; options.push(o) }
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
    const stop = collectWhenIdle({ everyMs: 20, busyShare: 0.3, quietShare: 0.2, trim: () => { trims++ }, cpuUsage: () => { seen++; cpuUs += perWindowUs; return cpuUs } })
    try {
      await windows(5, 1000) // idle (5% of a window): nothing to collect
      expect([collections, trims]).toEqual([0, 0])
      await windows(5, 10_000) // busy (50%): no collection while working
      expect([collections, trims]).toEqual([0, 0])
      await windows(1, 1000) // quiet again: one collection, the trim not yet
      expect([collections, trims]).toEqual([1, 0])
      await windows(1, 1000) // a window later: the trim
      expect([collections, trims]).toEqual([1, 1])
      await windows(5, 1000) // still quiet: still one of each
      expect([collections, trims]).toEqual([1, 1])
      await windows(3, 5000) // neither busy nor quiet (25%): nothing changes
      expect([collections, trims]).toEqual([1, 1])
      await windows(2, 10_000)
      await windows(3, 0) // worked again, quiet again: a second one of each
      expect([collections, trims]).toEqual([2, 2])
      // The collection that compacts and shrinks V8's spaces, not a plain one.
      expect(options).toEqual([
        { type: 'major', execution: 'sync', flavor: 'last-resort' },
        { type: 'major', execution: 'sync', flavor: 'last-resort' }
      ])
    } finally {
      stop()
    }
  })

  it('work interrupting the wait for the trim puts it off, it is not lost', async () => {
    let collections = 0
    let trims = 0
    g.gc = () => { collections++ }
    let cpuUs = 0
    const script = [10_000, 10_000, 0, 10_000, 0, 0, 0]
    let seen = 0
    const stop = collectWhenIdle({ everyMs: 20, busyShare: 0.3, quietShare: 0.2, trim: () => { trims++ }, cpuUsage: () => { cpuUs += script[Math.min(seen, script.length - 1)]! * (seen === 0 ? 0 : 1); seen++; return cpuUs } })
    try {
      await waitFor(() => seen >= script.length + 2, { what: 'the scripted windows', timeoutMs: 10_000, intervalMs: 5 })
      // (a baseline, then) busy, quiet: collect; busy: the trim waits; quiet: collect again; quiet: trim.
      expect([collections, trims]).toEqual([2, 1])
    } finally {
      stop()
    }
  })

  it('trims without --expose-gc, and does nothing with neither', async () => {
    g.gc = undefined
    let trims = 0
    let cpuUs = 0
    let seen = 0
    const script = [0, 10_000, 0, 0, 0]
    const stop = collectWhenIdle({ everyMs: 20, busyShare: 0.3, quietShare: 0.2, trim: () => { trims++ }, cpuUsage: () => { cpuUs += script[Math.min(seen, script.length - 1)]!; seen++; return cpuUs } })
    try {
      await waitFor(() => seen >= script.length + 2, { what: 'the scripted windows', timeoutMs: 10_000, intervalMs: 5 })
      expect(trims).toBe(1)
    } finally {
      stop()
    }
    let calls = 0
    const none = collectWhenIdle({ everyMs: 20, trim: null, cpuUsage: () => { calls++; return calls * 100_000 } })
    await work(100)
    await sleep(100)
    none()
    // With nothing to call, it does not even watch.
    expect(calls).toBe(0)
    expect(g.gc).toBeUndefined()
  })
})
