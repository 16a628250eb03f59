/**
 * Waiting on a condition instead of sleeping: polls `probe` until it returns a value other than
 * `false`, `undefined` or `null` and returns that value, or fails after `timeoutMs` with an error
 * that names what it waited for (and the last value or error seen, to tell "slow" from "wrong").
 * A probe that throws counts as "not yet" (a process that is restarting refuses connections).
 */

export interface WaitForOptions {
  /** What the test waits for, in words: "executor 3 restarted". */
  what: string
  /** Deadline for the whole wait. Generous by default: the test machine is shared. */
  timeoutMs?: number
  /** Pause between probes. */
  intervalMs?: number
  /** More context for the failure message (e.g. the last log lines). */
  detail?: () => string
}

/** Thrown when the condition did not hold before the deadline. */
export class WaitTimeoutError extends Error {
  readonly code = 'wait_timeout'
  override readonly name = 'WaitTimeoutError'
}

export const DEFAULT_WAIT_TIMEOUT_MS = 30_000
export const DEFAULT_WAIT_INTERVAL_MS = 50

export async function waitFor<T> (probe: () => T | Promise<T>, options: WaitForOptions): Promise<Exclude<T, false | undefined | null>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS
  const intervalMs = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS
  const deadline = Date.now() + timeoutMs
  let last: { value?: unknown, error?: unknown } = {}
  for (;;) {
    try {
      const value = await probe()
      if (value !== false && value !== undefined && value !== null) return value as Exclude<T, false | undefined | null>
      last = { value }
    } catch (error) {
      last = { error }
    }
    if (Date.now() >= deadline) {
      const seen = 'error' in last ? `last error: ${String((last.error as Error)?.stack ?? last.error)}` : `last value: ${String(last.value)}`
      const extra = options.detail !== undefined ? `\n${options.detail()}` : ''
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${options.what}; ${seen}${extra}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
