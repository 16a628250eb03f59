/**
 * EventLog: events strangers decide the rate of, logged at most once per period (RateLog) at
 * their level, with counts by kind and the newest event's fields; every event at debug when the
 * logger is at debug. A real pino logger into memory, on jest's fake clock and timers.
 */
import { describe, it, expect, jest, beforeEach, afterEach } from '@jest/globals'
import { captureLog, type CapturedLog } from '../helpers/log-capture.ts'
import { EVENT_LOG_EVERY_MS, EventLog } from '../../services/core/process/src/event-log.ts'

type Line = { level: number, msg: string, [k: string]: unknown }

function capture (level: string): CapturedLog<Line> {
  return captureLog<Line>(level)
}

describe('EventLog', () => {
  beforeEach(() => { jest.useFakeTimers({ now: 5_000_000 }) })
  afterEach(() => { jest.useRealTimers() })

  it('turns a flood into a line per period at its level, with counts by kind and the newest fields', async () => {
    const { logger, lines } = capture('info')
    const log = new EventLog(logger, 'warn', 'peers connected and disconnected', { kinds: ['connected', 'disconnected'] })
    for (let i = 0; i < 3000; i++) {
      log.note({ peer: `p${i}` }, i % 3 === 0 ? 'disconnected' : 'connected')
      jest.advanceTimersByTime(10)
    }
    jest.advanceTimersByTime(EVENT_LOG_EVERY_MS)
    // pino writes to its stream asynchronously: real time for it to arrive.
    jest.useRealTimers()
    await new Promise((resolve) => setTimeout(resolve, 10))
    // 30 s of events: the first at once, then one line per 10 s (the last after the flood).
    expect(lines.length).toBe(4)
    expect(lines.every((l) => l.level === 40 && l.msg === 'peers connected and disconnected')).toBe(true)
    expect(lines[0]).toMatchObject({ peer: 'p0', connected: 0, disconnected: 1 })
    expect(lines.reduce((n, l) => n + Number(l.connected) + Number(l.disconnected), 0)).toBe(3000)
    expect(lines.at(-1)).toMatchObject({ peer: 'p2999' })
    expect(log.counts).toEqual({ connected: 2000, disconnected: 1000 })
    log.close()
  })

  it('writes every event at debug as well when the logger is at debug', async () => {
    const { logger, lines } = capture('debug')
    const log = new EventLog(logger, 'info', 'remote job refused')
    for (let i = 0; i < 5; i++) log.note({ code: 'invalid_json', n: i })
    log.close()
    jest.useRealTimers()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(lines.filter((l) => l.level === 20).map((l) => l.n)).toEqual([0, 1, 2, 3, 4])
    // At info: the first at once, the other four written by close.
    expect(lines.filter((l) => l.level === 30).map((l) => [l.count, l.n])).toEqual([[1, 0], [4, 4]])
  })
})
