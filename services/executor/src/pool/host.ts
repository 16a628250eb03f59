/**
 * What a pool slot holds (slots.ts): a host that boots, runs one job at a time and can be killed.
 * A worker thread is one (thread-host.ts); a child process would be another, with the same
 * events: `ready` once booted, `died` when it goes without being asked.
 */
import { UnavailableError } from '@phase-network/protocol/errors'

/** What the slots need of a host: a way to end it (resolves once it is gone; safe to call twice). */
export interface Host {
  terminate: () => Promise<unknown>
}

/** A slot and the generation of the host it had when the reference was taken. */
export interface HostRef {
  readonly slot: number
  readonly host: number
}

/** Why a host went without being asked to. */
export interface HostDeath {
  /** Short description for the log and for the detail of the job it ran (`worker exited`). */
  detail: string
  error?: unknown
  exitCode?: number
  /** The guest ended it by design (e.g. the worker's heap cap): the host was sound, no back-off. */
  guest?: boolean
}

/** A host's events, bound to its `HostRef`: events of a host no longer in its slot are ignored. */
export interface HostEvents {
  ready: () => void
  /** Returns false when the event was ignored (a host already being replaced, or replaced). */
  died: (death: HostDeath) => boolean
}

/** How a job left its slot without finishing there by itself. */
export type JobEnd<R> =
  | { kind: 'deadline' }
  | { kind: 'replaced', reason: R }
  | { kind: 'died', death: HostDeath }
  | { kind: 'stopped' }

export interface Clock {
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout)
}

/** `start()` failed: a host did not boot (died, or did not say ready in time). */
export class WorkerBootError extends UnavailableError {
  // Named explicitly, as every Phase error is (minified bundles keep it; errors.ts).
  override readonly name: string = 'WorkerBootError'
  readonly slot: number
  readonly reason: 'died' | 'timeout'
  constructor (slot: number, reason: 'died' | 'timeout', detail: string, options?: { cause?: unknown }) {
    super(`executor worker ${slot} failed to boot: ${detail}`, options)
    this.slot = slot
    this.reason = reason
  }
}

