/**
 * Keeps this node's provider records in the DHT: one record per capability key (announceKeys),
 * put now, again before kad-dht lets them expire, and as the routing table fills (the records
 * go to the peers now closest to the keys). A lone node has nobody to store them: it waits for a
 * peer instead of failing.
 *
 * An announce is three DHT walks and ~60 ADD_PROVIDER messages, and every peer answers each
 * walk. When a whole network joins at once (a fresh cluster, a restart of many nodes) every
 * node's table grows for minutes, and re-announcing on each growth multiplied the join's own
 * work: at 50 nodes on loopback, 18 provides per node while the tables filled, several of one
 * node's announces in flight at once (each took longer than the gap between them), and the
 * event loops busy for 3.5 minutes. So: one announce at a time; one caused by table growth only
 * once the table has doubled since the last, and each such one waits twice as long after the
 * previous as the one before (REANNOUNCE_GAP_MS, 2×, 4×, … up to the refresh period). A node
 * joining a settled network loses nothing by it: its first announce already walks that network
 * to the peers closest to each key.
 */
import { arch } from 'node:os'
import type { CID } from 'multiformats/cid'
import type { Logger } from '@phase-network/process'
import { announceKeys, capabilityKey } from './providers.ts'

/** Provider records are refreshed this often (kad-dht keeps them for 48 h, peers come and go), ms. */
export const ANNOUNCE_EVERY_MS = 5 * 60 * 1000
/** Least time from the end of one announce to a re-announce caused by table growth; doubles with each, ms. */
export const REANNOUNCE_GAP_MS = 10_000
/** Longest one capability key's provide may take (kad-dht's own query limit is 180 s), ms. */
export const PROVIDE_TIMEOUT_MS = 60_000

export interface AnnouncerComponents {
  logger: Logger
  /** Puts a provider record for `key` into the DHT; gives up when `signal` aborts. */
  provide: (key: CID, signal: AbortSignal) => Promise<void>
  /** True when at least one peer is connected (someone to store the records). */
  connected: () => boolean
  runtime: () => Promise<{ name: string }>
  /** Peers in the routing table. Default: growth is not tracked (every report may re-announce). */
  tableSize?: () => number
}

export class Announcer {
  private readonly c: AnnouncerComponents
  private refresh: NodeJS.Timeout | undefined
  /** The pending re-announce, waiting out its gap. */
  private later: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopping = new AbortController()
  private stopped = false
  /** When the last announce that stored the records started (-Infinity: none has). */
  private announcedAt = -Infinity
  /** When the last announce ended, stored or not. */
  private endedAt = -Infinity
  /** Routing-table size when the last announce that stored the records started. */
  private sizeAtAnnounce = 0
  /** Table growth reported and not yet acted on. */
  private grew = false
  /** A peer connected while the records were missing or old, within the gap after an announce: try once it has passed. */
  private retry = false
  private gapMs = REANNOUNCE_GAP_MS
  private count = 0

  constructor (components: AnnouncerComponents) {
    this.c = components
  }

  /** Announces started so far. */
  get announces (): number { return this.count }

  /** Announces now, then every ANNOUNCE_EVERY_MS. Safe to call twice. */
  start (): void {
    if (this.refresh !== undefined) return
    this.stopped = false
    this.stopping = new AbortController()
    this.refresh = setInterval(() => { void this.announce() }, ANNOUNCE_EVERY_MS)
    this.refresh.unref()
    void this.announce()
  }

  /** Stops the refresh and any pending re-announce, and aborts an announce under way. */
  stop (): void {
    this.stopped = true
    this.stopping.abort()
    clearInterval(this.refresh)
    clearTimeout(this.later)
    this.refresh = undefined
    this.later = undefined
  }

  /** A peer connected: announce when the records are missing or as old as the refresh period (a lone node's never went out). */
  onConnect (): void {
    if (!this.stale()) return
    this.retry = true
    this.consider()
  }

  /** The routing table grew: once it has doubled since the last announce, the records go to the peers now closest to the keys. */
  onJoined (): void {
    this.grew = true
    this.consider()
  }

  /** Puts provider records for this node's capability keys into the DHT; one announce at a time (a call during one joins it). */
  async announce (): Promise<void> {
    if (this.running !== undefined) return await this.running
    if (this.stopped || !this.c.connected()) return
    this.running = this.put()
    try {
      await this.running
    } finally {
      this.running = undefined
      this.endedAt = Date.now()
      this.consider()
    }
  }

  private stale (): boolean {
    return Date.now() - this.announcedAt > ANNOUNCE_EVERY_MS
  }

  private async put (): Promise<void> {
    const started = Date.now()
    this.count++
    try {
      const size = this.c.tableSize?.() ?? 0
      const runtime = await this.c.runtime()
      for (const key of announceKeys(runtime.name, arch())) {
        await this.c.provide(await capabilityKey(key), AbortSignal.any([this.stopping.signal, AbortSignal.timeout(PROVIDE_TIMEOUT_MS)]))
      }
      this.announcedAt = started
      this.sizeAtAnnounce = size
      this.c.logger.debug({ event: 'announced' }, 'capability keys provided')
    } catch (err) {
      // Not stored this time: the next peer that connects triggers another try.
      this.announcedAt = -Infinity
      this.sizeAtAnnounce = 0
      this.c.logger.debug({ err: (err as Error).message }, 'could not provide capability keys yet')
    }
  }

  /**
   * Announces when something asked for it and its gap since the last announce has passed: a
   * retry (records missing or old) REANNOUNCE_GAP_MS after the last, growth once the table has
   * doubled, the doubling gap after the last. At most one timer waits.
   */
  private consider (): void {
    if (this.stopped || this.running !== undefined || this.later !== undefined) return
    if (this.retry && !this.stale()) this.retry = false
    if (this.grew && !this.retry) {
      const size = this.c.tableSize?.()
      if (size !== undefined && size < 2 * this.sizeAtAnnounce) this.grew = false
    }
    if (!this.grew && !this.retry) return
    const wait = this.endedAt + (this.retry ? REANNOUNCE_GAP_MS : this.gapMs) - Date.now()
    if (wait > 0) {
      this.later = setTimeout(() => { this.later = undefined; this.consider() }, wait)
      this.later.unref()
      return
    }
    if (this.grew && !this.retry) this.gapMs = Math.min(2 * this.gapMs, ANNOUNCE_EVERY_MS)
    this.grew = false
    this.retry = false
    void this.announce()
  }
}
