/**
 * Replay protection: a job id (which covers the client's nonce) is accepted once. The window
 * is bounded: the oldest ids are forgotten first, so memory stays flat under any load.
 */
export class ReplayGuard {
  private readonly seen = new Set<string>()
  private readonly capacity: number

  constructor (capacity: number) {
    this.capacity = capacity
  }

  /** True when `id` is new (and now remembered), false for a replay. */
  claim (id: string): boolean {
    if (this.seen.has(id)) return false
    this.seen.add(id)
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value
      if (oldest !== undefined) this.seen.delete(oldest)
    }
    return true
  }

  /** Forgets `id`, for a job that was refused before it ran. */
  release (id: string): void {
    this.seen.delete(id)
  }
}
