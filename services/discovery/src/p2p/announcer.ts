/**
 * Keeps this node's provider records in the DHT: one record per capability key (announceKeys),
 * put now, again before kad-dht lets them expire, and whenever the network around the node
 * changes enough that other peers should hold them (a peer connects while the last announce is
 * stale, or the routing table filled further). A lone node has nobody to store them: it waits
 * for a peer instead of failing.
 */
import { arch } from 'node:os'
import type { CID } from 'multiformats/cid'
import type { Logger } from '@phase-network/process'
import { announceKeys, capabilityKey } from './providers.ts'

/** Provider records are refreshed this often (kad-dht keeps them for 48 h, peers come and go), ms. */
export const ANNOUNCE_EVERY_MS = 5 * 60 * 1000
/** Least time between two announces caused by routing-table fills (each is 3 DHT queries), ms. */
export const REANNOUNCE_GAP_MS = 10_000

export interface AnnouncerComponents {
  logger: Logger
  /** Puts a provider record for `key` into the DHT. */
  provide: (key: CID) => Promise<void>
  /** True when at least one peer is connected (someone to store the records). */
  connected: () => boolean
  runtime: () => Promise<{ name: string }>
  /** The clock (tests). Default: Date.now. */
  now?: () => number
}

export class Announcer {
  private readonly c: AnnouncerComponents
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined
  private announcedAt = 0

  constructor (components: AnnouncerComponents) {
    this.c = components
    this.now = components.now ?? Date.now
  }

  /** Announces now, then every ANNOUNCE_EVERY_MS. Safe to call twice. */
  start (): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => { void this.announce() }, ANNOUNCE_EVERY_MS)
    this.timer.unref()
    void this.announce()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** A peer connected: announce when the records are as old as the refresh period (a lone node's never went out). */
  onConnect (): void {
    if (this.now() - this.announcedAt > ANNOUNCE_EVERY_MS) void this.announce()
  }

  /** The routing table filled further: the records go to the peers now closest to the keys. */
  onJoined (): void {
    if (this.now() - this.announcedAt > REANNOUNCE_GAP_MS) void this.announce()
  }

  /** Puts provider records for this node's capability keys into the DHT. */
  async announce (): Promise<void> {
    if (!this.c.connected()) return
    this.announcedAt = this.now()
    try {
      const runtime = await this.c.runtime()
      for (const key of announceKeys(runtime.name, arch())) await this.c.provide(await capabilityKey(key))
      this.c.logger.debug({ event: 'announced' }, 'capability keys provided')
    } catch (err) {
      // Not stored this time: the next peer that connects triggers another try.
      this.announcedAt = 0
      this.c.logger.debug({ err: (err as Error).message }, 'could not provide capability keys yet')
    }
  }
}
