/**
 * Replay protection: a job id (which covers the client's nonce) is accepted once. The window
 * is bounded: the oldest ids are forgotten first, so memory stays flat under any load.
 *
 * The window survives restarts: at start discovery loads the job ids of every receipt in the
 * signer's receipt log (`loadSignedJobIds`), and the signer itself refuses a second, different
 * receipt for a logged job id whatever this guard remembers.
 */
export class ReplayGuard {
  private readonly seen = new Set<string>()
  private readonly capacity: number

  constructor (capacity: number) {
    this.capacity = capacity
  }

  get size (): number { return this.seen.size }

  /** True when `id` is new (and now remembered), false for a replay. */
  claim (id: string): boolean {
    if (this.seen.has(id)) return false
    this.remember(id)
    return true
  }

  /** Remembers `id` as used (a job id whose receipt was signed before a restart). */
  remember (id: string): void {
    this.seen.add(id)
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value
      if (oldest !== undefined) this.seen.delete(oldest)
    }
  }

  /** Forgets `id`, for a job that never got a receipt (refused, failed, or signing failed). */
  release (id: string): void {
    this.seen.delete(id)
  }
}

/** Loads the job ids of the signer's receipt log into `guard`; returns how many. */
export async function loadSignedJobIds (guard: Pick<ReplayGuard, 'remember'>, signer: { signedJobIds: (options: { signal?: AbortSignal }) => AsyncIterable<string[]> }, options: { signal?: AbortSignal } = {}): Promise<number> {
  let n = 0
  for await (const page of signer.signedJobIds(options)) {
    for (const id of page) guard.remember(id)
    n += page.length
  }
  return n
}
