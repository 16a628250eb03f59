/**
 * RateLog: events a stranger decides the rate of become at most one log line per period, each
 * with the counts since the line before; events after a line are reported by the next one, which
 * a timer writes once the period has passed even if no event comes then. On jest's fake clock
 * and timers: every edge exact.
 */
import { describe, it, expect, jest, beforeEach, afterEach } from '@jest/globals'
import { RateLog, type EventCounts } from '../../services/core/protocol/src/rate-log.ts'

type Line = { counts: EventCounts, detail: Readonly<Record<string, unknown>> | undefined, at: number }

describe('RateLog', () => {
  let lines: Line[]
  let log: RateLog
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 })
    lines = []
    log = new RateLog({ everyMs: 10_000, kinds: ['a', 'b'], write: (counts, detail) => { lines.push({ counts, detail, at: Date.now() }) } })
  })
  afterEach(() => { log.close(); jest.useRealTimers() })

  it('writes the first event at once, then at most one line per period for a flood', () => {
    log.note('a', { peer: 'p1' })
    expect(lines).toEqual([{ counts: { a: 1, b: 0 }, detail: { peer: 'p1' }, at: 1_000_000 }])
    // 10,000 events over 30 s (one every 3 ms): three more lines, one per period, none lost.
    for (let i = 0; i < 10_000; i++) {
      jest.advanceTimersByTime(3)
      log.note(i % 4 === 0 ? 'b' : 'a', { peer: `p${i}` })
    }
    expect(lines.length).toBe(4)
    for (let i = 1; i < lines.length; i++) expect(lines[i]!.at - lines[i - 1]!.at).toBe(10_000)
    // What the last line left pending comes with the period after it, and then nothing more.
    jest.advanceTimersByTime(10_000)
    expect(lines.length).toBe(5)
    jest.advanceTimersByTime(60_000)
    expect(lines.length).toBe(5)
    const total = lines.reduce((n, l) => n + l.counts.a! + l.counts.b!, 0)
    expect(total).toBe(10_001)
    expect(log.counts).toEqual({ a: 7_501, b: 2_500 })
    // Each line names the newest event before it.
    expect(lines.at(-1)!.detail).toEqual({ peer: 'p9999' })
  })

  it('writes a pending count when the period ends although no event comes then', () => {
    log.note('a')
    jest.advanceTimersByTime(1_000)
    log.note('b')
    log.note('b')
    expect(lines.length).toBe(1)
    jest.advanceTimersByTime(8_999)
    expect(lines.length).toBe(1)
    jest.advanceTimersByTime(1)
    expect(lines[1]).toEqual({ counts: { a: 0, b: 2 }, detail: undefined, at: 1_010_000 })
  })

  it('after a quiet period an event is written at once again', () => {
    log.note('a')
    jest.advanceTimersByTime(25_000)
    log.note('b')
    expect(lines.map((l) => l.at)).toEqual([1_000_000, 1_025_000])
    expect(jest.getTimerCount()).toBe(0)
  })

  it('close writes what is pending, stops its timer and writes nothing after', () => {
    log.note('a')
    log.note('a')
    expect(jest.getTimerCount()).toBe(1)
    log.close()
    expect(lines.map((l) => l.counts)).toEqual([{ a: 1, b: 0 }, { a: 1, b: 0 }])
    expect(jest.getTimerCount()).toBe(0)
    log.note('b')
    jest.advanceTimersByTime(60_000)
    expect(lines.length).toBe(2)
    // Still counted.
    expect(log.counts).toEqual({ a: 2, b: 1 })
  })

  it('refuses a kind it was not given', () => {
    expect(() => { log.note('c') }).toThrow(/unknown kind c/)
  })
})
