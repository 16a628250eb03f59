import { describe, it, expect } from '@jest/globals'
import { Announcer, ANNOUNCE_EVERY_MS, REANNOUNCE_GAP_MS } from '../../services/discovery/src/p2p/announcer.ts'
import { announceKeys } from '../../services/discovery/src/p2p/providers.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

function announcer (connected = true): { a: Announcer, provided: () => number, clock: { now: number }, fail: { on: boolean } } {
  let provided = 0
  const clock = { now: 1_000_000 }
  const fail = { on: false }
  const a = new Announcer({
    logger: silentLogger(),
    connected: () => connected,
    runtime: async () => ({ name: 'v8-wasm' }),
    provide: async () => { if (fail.on) throw new Error('no peer stored it'); provided++ },
    now: () => clock.now
  })
  return { a, provided: () => provided, clock, fail }
}

const KEYS = announceKeys('v8-wasm', 'x64').length

describe('Announcer', () => {
  it('provides every capability key, and again on a routing-table fill only after the gap', async () => {
    const { a, provided, clock } = announcer()
    await a.announce()
    expect(provided()).toBe(KEYS)
    a.onJoined()
    await new Promise((resolve) => setImmediate(resolve))
    expect(provided()).toBe(KEYS)
    clock.now += REANNOUNCE_GAP_MS + 1
    a.onJoined()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(provided()).toBe(2 * KEYS)
  })

  it('announces on a new peer only when the records are as old as the refresh period', async () => {
    const { a, provided, clock } = announcer()
    await a.announce()
    a.onConnect()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(provided()).toBe(KEYS)
    clock.now += ANNOUNCE_EVERY_MS + 1
    a.onConnect()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(provided()).toBe(2 * KEYS)
  })

  it('does nothing alone, and tries again at the next peer after a failed announce', async () => {
    const lone = announcer(false)
    await lone.a.announce()
    expect(lone.provided()).toBe(0)
    const { a, provided, fail } = announcer()
    fail.on = true
    await a.announce()
    fail.on = false
    a.onConnect()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(provided()).toBe(KEYS)
  })
})
