import { describe, it, expect } from '@jest/globals'
import { Announcer, ANNOUNCE_EVERY_MS } from '../../services/discovery/src/p2p/announcer.ts'
import { announceKeys } from '../../services/discovery/src/p2p/providers.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

const GAP_MS = 40
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface Harness {
  a: Announcer
  provided: () => number
  clock: { now: number }
  fail: { on: boolean }
  table: { size: number }
  /** Each provide waits this long (ms). */
  slow: { ms: number }
}

function announcer (connected = true, clock?: { now: number }): Harness {
  let provided = 0
  const fail = { on: false }
  const table = { size: 1 }
  const slow = { ms: 0 }
  const a = new Announcer({
    logger: silentLogger(),
    connected: () => connected,
    runtime: async () => ({ name: 'v8-wasm' }),
    provide: async () => {
      if (slow.ms > 0) await sleep(slow.ms)
      if (fail.on) throw new Error('no peer stored it')
      provided++
    },
    tableSize: () => table.size,
    reannounceGapMs: GAP_MS,
    ...(clock === undefined ? {} : { now: () => clock.now })
  })
  return { a, provided: () => provided, clock: clock ?? { now: 0 }, fail, table, slow }
}

const KEYS = announceKeys('v8-wasm', 'x64').length

describe('Announcer', () => {
  it('provides every capability key; one announce at a time (a call during one joins it)', async () => {
    const { a, provided, slow } = announcer()
    slow.ms = 20
    await Promise.all([a.announce(), a.announce(), a.announce()])
    expect(provided()).toBe(KEYS)
    expect(a.announces).toBe(1)
    await a.announce()
    expect(a.announces).toBe(2)
    a.stop()
  })

  it('re-announces on table growth only once the table has doubled, after a gap that doubles each time', async () => {
    const { a, table } = announcer()
    table.size = 4
    await a.announce()
    expect(a.announces).toBe(1)
    // Doubled: once the first gap since the last announce has passed.
    table.size = 8
    a.onJoined()
    await sleep(GAP_MS / 4)
    expect(a.announces).toBe(1)
    await sleep(GAP_MS)
    expect(a.announces).toBe(2)
    // Doubled again: the gap is now twice as long; fills in between make one announce.
    table.size = 16
    a.onJoined()
    a.onJoined()
    await sleep(GAP_MS * 1.3)
    expect(a.announces).toBe(2)
    a.onJoined()
    await sleep(GAP_MS * 1.5)
    expect(a.announces).toBe(3)
    // Grown, not doubled: nothing, now or later.
    table.size = 31
    a.onJoined()
    await sleep(GAP_MS * 6)
    expect(a.announces).toBe(3)
    a.stop()
  })

  it('a fill reported during an announce is acted on after it, and nothing is left pending after stop', async () => {
    const { a, table, slow } = announcer()
    slow.ms = 30
    const first = a.announce()
    table.size = 10
    a.onJoined()
    await first
    expect(a.announces).toBe(1)
    await sleep(GAP_MS * 1.5)
    expect(a.announces).toBe(2)
    await sleep(KEYS * 30 + 20)
    table.size = 40
    a.onJoined()
    a.stop()
    await sleep(GAP_MS * 3)
    expect(a.announces).toBe(2)
  })

  it('announces on a new peer only when the records are as old as the refresh period', async () => {
    const { a, provided, clock } = announcer(true, { now: 1_000_000 })
    await a.announce()
    a.onConnect()
    await sleep(10)
    expect(provided()).toBe(KEYS)
    clock.now += ANNOUNCE_EVERY_MS + 1
    a.onConnect()
    await sleep(10)
    expect(provided()).toBe(2 * KEYS)
  })

  it('does nothing alone, and tries again at a peer that connects a gap after a failed announce', async () => {
    const lone = announcer(false)
    await lone.a.announce()
    expect(lone.provided()).toBe(0)
    expect(lone.a.announces).toBe(0)
    const { a, provided, fail, clock } = announcer(true, { now: 1_000_000 })
    fail.on = true
    await a.announce()
    fail.on = false
    // Right after the failure: not yet (a join's connects would retry back to back).
    a.onConnect()
    await sleep(10)
    expect(provided()).toBe(0)
    clock.now += GAP_MS
    a.onConnect()
    await sleep(10)
    expect(provided()).toBe(KEYS)
  })
})
