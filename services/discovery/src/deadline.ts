/**
 * Signals joined by hand, that leave nothing behind once the wait is over: a deadline for one wait
 * on a stream joined with the caller's signal, and a call's two signals (the caller's and its
 * executor's stall signal). `AbortSignal.timeout` + `AbortSignal.any` per message cost a remote job
 * ~0.2 ms of CPU on each node (bench profile): the composite signal's bookkeeping, and a timer per
 * message that stays armed for the whole read deadline (10 s) and fires long after its message
 * arrived. And a composite that gets a listener is registered in a finalization registry and held
 * by its sources through weak references, which V8 clears only in a full collection: a heap profile
 * of discovery after 3,000 warm jobs held 0.3 MB of those from the executor call alone. Here the
 * timer is cleared and the sources unlinked as soon as the wait ends.
 */

export interface Deadline {
  /** What the wait listens to: the caller's signal alone when there is no deadline. */
  signal: AbortSignal | undefined
  /** True once the deadline itself passed (not the caller's signal). */
  readonly expired: boolean
  /** Ends the deadline (clears its timer, stops following the sources). Safe to call twice. */
  clear: () => void
}

/** A deadline of `timeoutMs` (none when undefined) joined with `signal` (none when undefined). */
export function deadline (signal: AbortSignal | undefined, timeoutMs: number | undefined): Deadline {
  if (timeoutMs === undefined) return { signal, expired: false, clear: noop }
  return link(signal === undefined ? [] : [signal], timeoutMs)
}

/** A signal aborted by either of two, with the reason of the first; `clear()` unlinks both. */
export function either (a: AbortSignal, b: AbortSignal): Deadline & { signal: AbortSignal } {
  return link([a, b], undefined)
}

function link (sources: readonly AbortSignal[], timeoutMs: number | undefined): Deadline & { signal: AbortSignal } {
  const ac = new AbortController()
  let expired = false
  const timer = timeoutMs === undefined
    ? undefined
    : setTimeout(() => {
      expired = true
      ac.abort(new DOMException(`no progress within ${timeoutMs} ms`, 'TimeoutError'))
    }, timeoutMs)
  const unlink = (): void => { for (const s of sources) s.removeEventListener('abort', follow) }
  const clear = (): void => {
    clearTimeout(timer)
    unlink()
  }
  function follow (this: AbortSignal): void {
    unlink()
    ac.abort(this.reason)
  }
  for (const s of sources) {
    if (s.aborted) { follow.call(s); break }
    s.addEventListener('abort', follow, { once: true })
  }
  return { signal: ac.signal, get expired () { return expired }, clear }
}

function noop (): void {}
