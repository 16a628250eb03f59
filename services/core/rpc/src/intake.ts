/**
 * What a client may make the node buffer while it sends a request, shared by the public HTTP and
 * gRPC faces: one global budget of request bytes (held until the answer is sent, since the job
 * path keeps copies of the body), a minimum rate once a grace period has passed, and a deadline
 * for the whole request. Without them, eight 60 MB bodies cost 1.7 GB and a client that sends
 * one byte every few seconds (or opens a gRPC stream and never finishes it) holds its buffers
 * for minutes.
 */
import { OverloadedError, RequestTimeoutError, type PhaseError } from '@phase-network/protocol/errors'
import { configDefault } from '@phase-network/protocol/config'

/** The config's defaults (api.*, schemas/config.schema.json). */
export const DEFAULT_MAX_BUFFERED_BYTES = configDefault('api.max_buffered_bytes')
export const DEFAULT_MIN_BYTES_PER_SECOND = configDefault('api.min_bytes_per_second')
export const DEFAULT_BODY_GRACE_MS = configDefault('api.body_grace_ms')
export const DEFAULT_REQUEST_TIMEOUT_MS = configDefault('api.request_timeout_ms')

export interface IntakeInit {
  /** Request bytes all clients together may have buffered. Default: 128 MiB. */
  maxBufferedBytes?: number
  /** Slowest average rate a request may arrive at once `graceMs` has passed. Default: 16 KiB/s. */
  minBytesPerSecond?: number
  /** Time a request gets before the minimum rate applies. Default: 10 s. */
  graceMs?: number
  /** Time a whole request (every byte of it) may take to arrive. Default: 60 s. */
  timeoutMs?: number
}

/** One request being received: its reservation in the budget and its clock. */
export interface Upload {
  /** Adds `bytes` to this request's reservation; false (and `onFail` called) when over budget. */
  reserve: (bytes: number) => boolean
  /** Counts bytes that arrived (for the minimum rate). */
  arrived: (bytes: number) => void
  /** The whole request arrived: its clock stops, its reservation stays until `release()`. */
  received: () => void
  /** The answer is sent or the client went away: frees the reservation. Safe to call twice. */
  release: () => void
  readonly bytes: number
}

interface Open {
  started: number
  bytes: number
  arrived: number
  fail: (err: PhaseError) => void
}

export class Intake {
  readonly maxBufferedBytes: number
  private readonly minRate: number
  private readonly graceMs: number
  private readonly timeoutMs: number
  private readonly receiving = new Set<Open>()
  private sweeper: NodeJS.Timeout | undefined
  private used = 0

  constructor (init: IntakeInit = {}) {
    this.maxBufferedBytes = init.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    this.minRate = init.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND
    this.graceMs = init.graceMs ?? DEFAULT_BODY_GRACE_MS
    this.timeoutMs = init.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  }

  /** Bytes reserved right now by every request. */
  get bufferedBytes (): number { return this.used }

  /** Requests still arriving. */
  get receivingCount (): number { return this.receiving.size }

  /**
   * Starts tracking one request. `onFail` runs at most once, with OverloadedError (budget spent)
   * or RequestTimeoutError (too slow, too long); the caller refuses the request and frees it.
   */
  begin (onFail: (err: PhaseError) => void): Upload {
    let failed = false
    let released = false
    const open: Open = {
      started: performance.now(),
      bytes: 0,
      arrived: 0,
      fail: (err) => {
        this.receiving.delete(open)
        if (failed) return
        failed = true
        onFail(err)
      }
    }
    this.receiving.add(open)
    this.sweep()
    return {
      reserve: (bytes) => {
        if (released) return false
        if (this.used + bytes > this.maxBufferedBytes) {
          open.fail(new OverloadedError(`the node is buffering ${this.used} request bytes of its ${this.maxBufferedBytes} budget; retry later`))
          return false
        }
        this.used += bytes
        open.bytes += bytes
        return true
      },
      arrived: (bytes) => { open.arrived += bytes },
      received: () => { this.receiving.delete(open) },
      release: () => {
        this.receiving.delete(open)
        if (released) return
        released = true
        this.used -= open.bytes
      },
      get bytes () { return open.bytes }
    }
  }

  /** Stops the sweep timer (requests still open stay unchecked). */
  close (): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.sweeper = undefined
    this.receiving.clear()
  }

  /** One timer for every request (not one per request): checks deadlines and rates. */
  private sweep (): void {
    if (this.sweeper !== undefined) return
    const every = Math.min(1000, Math.max(50, Math.floor(Math.min(this.graceMs, this.timeoutMs) / 4)))
    this.sweeper = setInterval(() => {
      const now = performance.now()
      for (const open of [...this.receiving]) {
        const elapsed = now - open.started
        if (elapsed > this.timeoutMs) {
          open.fail(new RequestTimeoutError(`request not received within ${this.timeoutMs} ms`))
        } else if (elapsed > this.graceMs && open.arrived < this.minRate * elapsed / 1000) {
          open.fail(new RequestTimeoutError(`request arrives slower than ${this.minRate} bytes/s`))
        }
      }
      if (this.receiving.size === 0) {
        clearInterval(this.sweeper)
        this.sweeper = undefined
      }
    }, every)
    this.sweeper.unref()
  }
}
