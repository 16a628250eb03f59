/**
 * The announcer's schedule, on jest's fake clock and timers (exact edges, nothing left to a
 * loaded machine's timing): one announce at a time; re-announces on growth only once the table
 * has doubled, each a doubling gap after the last; a peer connecting while the records are
 * missing or old gets them announced, at once or once the gap after the last try has passed;
 * stop aborts the announce under way and leaves no timer behind.
 */
import { describe, it, expect, jest, beforeEach, afterEach } from '@jest/globals'
import { Announcer, ANNOUNCE_EVERY_MS, REANNOUNCE_GAP_MS } from '../../services/discovery/src/p2p/announcer.ts'
import { announceKeys } from '../../services/discovery/src/p2p/providers.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

const KEYS = announceKeys('v8-wasm', 'x64').length
/** Each provide takes this long on the fake clock (ms), unless set otherwise. */
const PROVIDE_MS = 100

interface Harness {
  a: Announcer
  provided: () => number
  fail: { on: boolean }
  table: { size: number }
  slow: { ms: number }
  connected: { on: boolean }
  aborted: () => number
}

function announcer (): Harness {
  let provided = 0
  let aborted = 0
  const fail = { on: false }
  const table = { size: 1 }
  const slow = { ms: PROVIDE_MS }
  const connected = { on: true }
  const a = new Announcer({
    logger: silentLogger(),
    connected: () => connected.on,
    runtime: async () => ({ name: 'v8-wasm' }),
    provide: async (_key, signal) => {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, slow.ms)
        signal.addEventListener('abort', () => { clearTimeout(t); aborted++; reject(signal.reason) }, { once: true })
      })
      if (fail.on) throw new Error('no peer stored it')
      provided++
    },
    tableSize: () => table.size
  })
  return { a, provided: () => provided, fail, table, slow, connected, aborted: () => aborted }
}

/** Runs the fake clock forward by `ms`, settling promises on the way. */
const advance = async (ms: number): Promise<void> => { await jest.advanceTimersByTimeAsync(ms) }
/** One announce's duration with every provide at PROVIDE_MS. */
const ANNOUNCE_MS = KEYS * PROVIDE_MS
/** The next announce starts exactly `ms` from now (not a millisecond before), then runs to its end. */
async function nextAnnounceIn (a: Announcer, ms: number): Promise<void> {
  const before = a.announces
  await advance(ms - 1)
  expect(a.announces).toBe(before)
  await advance(1)
  expect(a.announces).toBe(before + 1)
  await advance(ANNOUNCE_MS)
}

describe('Announcer', () => {
  beforeEach(() => { jest.useFakeTimers({ now: 1_000_000 }) })
  afterEach(() => { jest.useRealTimers() })

  it('provides every capability key; one announce at a time (a call during one joins it)', async () => {
    const { a, provided } = announcer()
    const calls = Promise.all([a.announce(), a.announce(), a.announce()])
    await advance(ANNOUNCE_MS)
    await calls
    expect(provided()).toBe(KEYS)
    expect(a.announces).toBe(1)
    const next = a.announce()
    await advance(ANNOUNCE_MS)
    await next
    expect(a.announces).toBe(2)
    a.stop()
  })

  it('re-announces on growth only once the table has doubled, each a doubling gap after the last', async () => {
    const { a, table } = announcer()
    table.size = 4
    const first = a.announce()
    await advance(ANNOUNCE_MS)
    await first
    expect(a.announces).toBe(1)
    // Grown, not doubled: nothing, however long.
    table.size = 7
    a.onJoined()
    await advance(10 * REANNOUNCE_GAP_MS)
    expect(a.announces).toBe(1)
    // Doubled, long after the last announce: at once.
    table.size = 8
    a.onJoined()
    expect(a.announces).toBe(2)
    await advance(ANNOUNCE_MS)
    // Doubled again right after: the gap is now twice REANNOUNCE_GAP_MS from that announce's end;
    // reports in between make one announce.
    table.size = 16
    a.onJoined()
    a.onJoined()
    await advance(2 * REANNOUNCE_GAP_MS - 1)
    a.onJoined()
    expect(a.announces).toBe(2)
    await advance(1)
    expect(a.announces).toBe(3)
    await advance(ANNOUNCE_MS)
    // And then four times.
    table.size = 32
    a.onJoined()
    await nextAnnounceIn(a, 4 * REANNOUNCE_GAP_MS)
    expect(a.announces).toBe(4)
    a.stop()
  })

  it('acts on growth reported during an announce once it ends', async () => {
    const { a, table } = announcer()
    const first = a.announce()
    table.size = 10
    a.onJoined()
    await advance(ANNOUNCE_MS)
    await first
    expect(a.announces).toBe(1)
    await nextAnnounceIn(a, REANNOUNCE_GAP_MS)
    a.stop()
  })

  it('announces on a new peer when the records are missing or as old as the refresh period', async () => {
    const { a, provided, connected } = announcer()
    // Alone at start: nothing to do, and nothing tried.
    connected.on = false
    a.start()
    await advance(ANNOUNCE_MS)
    expect(a.announces).toBe(0)
    connected.on = true
    a.onConnect()
    await advance(ANNOUNCE_MS)
    expect(provided()).toBe(KEYS)
    a.onConnect()
    await advance(ANNOUNCE_MS)
    expect(a.announces).toBe(1)
    // The refresh runs every ANNOUNCE_EVERY_MS on its own.
    await advance(ANNOUNCE_EVERY_MS)
    expect(a.announces).toBe(2)
    a.stop()
  })

  it('after a failed announce, a peer connecting within the gap gets the records once it has passed', async () => {
    const { a, provided, fail } = announcer()
    fail.on = true
    const first = a.announce()
    // It fails at the first key's provide.
    await advance(PROVIDE_MS)
    await first
    expect(provided()).toBe(0)
    fail.on = false
    // Right after the failure: not yet (a join's connects would retry back to back) …
    a.onConnect()
    a.onConnect()
    // … but not forgotten.
    await nextAnnounceIn(a, REANNOUNCE_GAP_MS)
    expect(provided()).toBe(KEYS)
    a.stop()
  })

  it('after a failed announce, any growth re-announces (nothing was stored at the old size)', async () => {
    const { a, table, fail } = announcer()
    table.size = 20
    fail.on = true
    const first = a.announce()
    await advance(PROVIDE_MS)
    await first
    fail.on = false
    table.size = 21
    a.onJoined()
    await advance(REANNOUNCE_GAP_MS)
    expect(a.announces).toBe(2)
    await advance(ANNOUNCE_MS)
    a.stop()
  })

  it('stop aborts the provide under way and leaves no timer behind', async () => {
    const { a, table, slow, aborted } = announcer()
    slow.ms = 10 * REANNOUNCE_GAP_MS
    const first = a.announce()
    table.size = 40
    a.onJoined()
    await advance(PROVIDE_MS)
    a.stop()
    await first
    expect(aborted()).toBe(1)
    expect(jest.getTimerCount()).toBe(0)
    a.onJoined()
    a.onConnect()
    expect(jest.getTimerCount()).toBe(0)
    await advance(ANNOUNCE_EVERY_MS)
    expect(a.announces).toBe(1)
  })
})
