/**
 * Log lines about events a stranger decides the rate of (connections refused, requests past a
 * peer's rate): at most one line per period, each with how many of each kind happened since the
 * line before, so a flood of events never becomes a flood of lines. Events after a line are not
 * lost: they are reported by the next one, written when the period has passed even if no event
 * comes then (a timer that does not hold the process open).
 */

/** Events counted by kind since the last line. */
export type EventCounts = Record<string, number>

export interface RateLogInit {
  /** Least time between two lines, ms. */
  everyMs: number
  /** Writes one line: the counts since the last line (kinds with none are 0) and the newest event's detail. */
  write: (counts: EventCounts, detail: Readonly<Record<string, unknown>> | undefined) => void
  /** The kinds of event, each shown in every line (0 when none). */
  kinds: readonly string[]
}

export class RateLog {
  private readonly everyMs: number
  private readonly write: RateLogInit['write']
  private readonly kinds: readonly string[]
  private pending: EventCounts
  private pendingAny = false
  private detail: Readonly<Record<string, unknown>> | undefined
  private lastLine = -Infinity
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  private readonly totals: EventCounts

  constructor (init: RateLogInit) {
    this.everyMs = init.everyMs
    this.write = init.write
    this.kinds = init.kinds
    this.pending = this.zero()
    this.totals = this.zero()
  }

  /** One event of `kind` (one of `kinds`); `detail` (e.g. the peer) is shown if it is the newest when the line is written. */
  note (kind: string, detail?: Readonly<Record<string, unknown>>): void {
    if (!Object.hasOwn(this.totals, kind)) throw new Error(`RateLog: unknown kind ${kind}`)
    this.totals[kind]!++
    if (this.closed) return
    this.pending[kind]!++
    this.pendingAny = true
    this.detail = detail
    const wait = this.lastLine + this.everyMs - performance.now()
    if (wait <= 0) { this.flush(); return }
    // Due later: one timer writes what gathers until then.
    if (this.timer === undefined) {
      this.timer = setTimeout(() => { this.timer = undefined; this.flush() }, wait)
      // Node: the timer does not hold the process open (a browser's timer id has no unref).
      ;(this.timer as { unref?: () => void }).unref?.()
    }
  }

  /** Every event counted so far, by kind (logged or not). */
  get counts (): Readonly<EventCounts> { return this.totals }

  /** Writes what is pending now, if anything, and stops the timer: nothing is written after. */
  close (): void {
    if (this.closed) return
    this.flush()
    this.closed = true
  }

  private flush (): void {
    // Written now: a timer still pending (a lagging loop ran past its time) has nothing to add.
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.pendingAny) return
    const counts = this.pending
    const detail = this.detail
    this.pending = this.zero()
    this.pendingAny = false
    this.detail = undefined
    // A monotonic clock: a wall clock stepped back must not hold the next line longer.
    this.lastLine = performance.now()
    this.write(counts, detail)
  }

  private zero (): EventCounts {
    return Object.fromEntries(this.kinds.map((k) => [k, 0]))
  }
}
