/**
 * Modules whose jobs kill executors. Every executor death strikes the modules of the jobs that
 * were running on it (once per death, however many of its jobs were there); a module struck by
 * two deaths within the window is refused for that long. One death alone quarantines nothing,
 * so a job caught in an operator's `kill -9` costs nobody else; a poison module costs at most
 * two executors (its job, retried once elsewhere, or two submissions) before it is refused.
 *
 * Bounded: at most `maxEntries` modules are tracked, each with at most `strikes` death ids, so
 * the map holds at most maxEntries × ~300 bytes (≈ 3 MiB at the default); the oldest entry
 * goes first.
 */
import { configDefault } from '@phase-network/protocol'

/** How long a struck module is remembered, and a quarantined one refused (poison_quarantine_ms). */
export const DEFAULT_QUARANTINE_MS = configDefault('poison_quarantine_ms')
/** Deaths that quarantine a module. */
export const DEFAULT_STRIKES = 2
/** Modules tracked at once. */
export const DEFAULT_MAX_ENTRIES = 10_000

export interface QuarantineInit {
  ms?: number
  strikes?: number
  maxEntries?: number
}

interface Entry {
  deaths: Set<string>
  until: number
}

export class Quarantine {
  private readonly entries = new Map<string, Entry>()
  private readonly ms: number
  private readonly strikes: number
  private readonly maxEntries: number

  constructor (init: QuarantineInit = {}) {
    this.ms = init.ms ?? DEFAULT_QUARANTINE_MS
    this.strikes = init.strikes ?? DEFAULT_STRIKES
    this.maxEntries = init.maxEntries ?? DEFAULT_MAX_ENTRIES
  }

  /** Records that a job of `hash` was running at death `deathId`; true when it is now quarantined. */
  strike (hash: string, deathId: string, now = Date.now()): boolean {
    let entry = this.live(hash, now)
    if (entry === undefined) entry = { deaths: new Set(), until: 0 }
    if (entry.deaths.size < this.strikes) entry.deaths.add(deathId)
    entry.until = now + this.ms
    this.entries.delete(hash) // re-insert: newest last, so eviction takes the oldest
    this.entries.set(hash, entry)
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break
      this.entries.delete(oldest)
    }
    return entry.deaths.size >= this.strikes
  }

  /** True while `hash` is refused. */
  has (hash: string, now = Date.now()): boolean {
    const entry = this.live(hash, now)
    return entry !== undefined && entry.deaths.size >= this.strikes
  }

  get size (): number { return this.entries.size }

  private live (hash: string, now: number): Entry | undefined {
    const entry = this.entries.get(hash)
    if (entry === undefined) return undefined
    if (entry.until > now) return entry
    this.entries.delete(hash)
    return undefined
  }
}
