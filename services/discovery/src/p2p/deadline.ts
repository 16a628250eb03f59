/**
 * A deadline for one wait on a stream, joined with the caller's signal, that leaves nothing
 * behind once the wait is over. `AbortSignal.timeout` + `AbortSignal.any` per message cost a
 * remote job ~0.2 ms of CPU on each node (bench profile): the composite signal's bookkeeping,
 * and a timer per message that stays armed for the whole read deadline (10 s) and fires long
 * after its message arrived. Here the timer is cleared as soon as the wait ends.
 */

export interface Deadline {
  /** What the wait listens to: the caller's signal alone when there is no deadline. */
  signal: AbortSignal | undefined
  /** True once the deadline itself passed (not the caller's signal). */
  readonly expired: boolean
  /** Ends the deadline (clears its timer, stops following the caller's signal). Safe to call twice. */
  clear: () => void
}

/** A deadline of `timeoutMs` (none when undefined) joined with `signal` (none when undefined). */
export function deadline (signal: AbortSignal | undefined, timeoutMs: number | undefined): Deadline {
  if (timeoutMs === undefined) return { signal, expired: false, clear: noop }
  const ac = new AbortController()
  let expired = false
  const timer = setTimeout(() => {
    expired = true
    ac.abort(new DOMException(`no progress within ${timeoutMs} ms`, 'TimeoutError'))
  }, timeoutMs)
  const follow = (): void => { ac.abort(signal!.reason) }
  if (signal !== undefined) {
    if (signal.aborted) follow()
    else signal.addEventListener('abort', follow, { once: true })
  }
  return {
    signal: ac.signal,
    get expired () { return expired },
    clear: () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', follow)
    }
  }
}

function noop (): void {}
