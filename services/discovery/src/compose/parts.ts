/**
 * Start-up and shutdown in one place: a composition step starts its parts in order and records
 * each as it comes up; stop() takes them down in reverse order, once. When a step fails halfway,
 * what it had started is stopped before the error goes on, so a failed start leaves no socket
 * bound, no timer running and no client open.
 */

/** Something started that can be taken down again. */
export interface Part {
  /** Undoes the start; safe to call twice. */
  stop: () => Promise<void>
}

/** Records a started part and hands it back. */
export type AddPart = <P extends Part>(part: P) => P

/**
 * Runs `build`, which starts parts in order and records each with `add`. Resolves with what
 * `build` returns plus a stop() that stops the recorded parts last first (each once, every one
 * even when another's stop fails; the first failure is thrown after). When `build` throws, the
 * parts it recorded are stopped, then the error is thrown.
 */
export async function startParts<T extends object> (build: (add: AddPart) => Promise<T>): Promise<T & Part> {
  const started: Part[] = []
  const stop = once(async () => await stopAll(started))
  try {
    const value = await build((part) => { started.push(part); return part })
    return { ...value, stop }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}

/** A part with nothing to take down but `fn` (close a client, clear a timer); stop runs it once. */
export function partOf (fn: () => void | Promise<void>): Part {
  return { stop: once(async () => { await fn() }) }
}

/** `fn` run at most once: every call gets the first call's promise; `peek()` gives it without calling. */
export interface Once<T> {
  (): Promise<T>
  /** The first call's promise, or undefined before any call. */
  peek: () => Promise<T> | undefined
}

export function once<T> (fn: () => Promise<T>): Once<T> {
  let result: Promise<T> | undefined
  return Object.assign(async () => await (result ??= fn()), { peek: () => result })
}

async function stopAll (parts: readonly Part[]): Promise<void> {
  let failure: { err: unknown } | undefined
  for (const part of [...parts].reverse()) {
    try {
      await part.stop()
    } catch (err) {
      failure ??= { err }
    }
  }
  if (failure !== undefined) throw failure.err
}
