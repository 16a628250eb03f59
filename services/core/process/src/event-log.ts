/**
 * Log lines for events a stranger decides the rate of — a peer connecting, a remote job refused,
 * a local client's remote job failing on a peer — written at most once per period (RateLog):
 * the first at once, then one line with how many happened since the line before, showing the
 * newest event's fields. A flood of events is a few lines a minute, and no event goes uncounted.
 * With the logger at debug, every event is also written, as it comes, at debug.
 */
import { RateLog, type EventCounts } from '@phase-network/protocol/rate-log'
import type { Logger } from './logger.ts'

/** Least time between two lines about the same kind of event, ms. */
export const EVENT_LOG_EVERY_MS = 10_000

const VERBOSE = new Set(['debug', 'trace'])

export interface EventLogInit {
  /** The kinds counted in each line (each shown, 0 when none). Default: ['count']. */
  kinds?: readonly string[]
  /** Least time between two lines, ms. Default: EVENT_LOG_EVERY_MS. */
  everyMs?: number
}

export class EventLog {
  private readonly rate: RateLog
  private readonly log: Logger
  private readonly msg: string

  constructor (log: Logger, level: 'info' | 'warn' | 'error', msg: string, init: EventLogInit = {}) {
    this.log = log
    this.msg = msg
    this.rate = new RateLog({
      everyMs: init.everyMs ?? EVENT_LOG_EVERY_MS,
      kinds: init.kinds ?? ['count'],
      write: (counts, detail) => { log[level]({ ...detail, ...counts }, msg) }
    })
  }

  /** One event (of `kind`, default 'count'), with the fields shown if it is the newest when a line is written. */
  note (fields: Readonly<Record<string, unknown>> = {}, kind = 'count'): void {
    if (VERBOSE.has(this.log.level)) this.log.debug(fields, this.msg)
    this.rate.note(kind, fields)
  }

  /** Every event noted, by kind. */
  get counts (): Readonly<EventCounts> { return this.rate.counts }

  /** Writes what is pending and stops: nothing is written after. */
  close (): void { this.rate.close() }
}
