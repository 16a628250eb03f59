/**
 * Other nodes' capability records, verified once and kept until they expire: a record binds a
 * PeerId to the receipt key its receipts are checked against, so it is fetched over
 * `/phase/capability/1.0.0` and verified (signed by the PeerId's own key) before it is kept.
 *
 * A record is served only while `usable(peer)` says the peer is there (connected, not known
 * gone) and before its `expires_at`; otherwise it is fetched again. Bounded: at most `maxPeers`
 * records and `maxRecordBytes` bytes of them as received (least recently stored dropped first);
 * a record larger than the whole budget is not kept.
 */
import type { CapabilityRecord } from '@phase-network/protocol'

/** Records kept by default. */
export const DEFAULT_MAX_RECORDS = 1024
/** Bytes of records kept by default (a record is ~1 KiB; the protocol caps one at 1 MiB). */
export const DEFAULT_MAX_RECORD_BYTES = 4 * 1024 * 1024

export interface CapabilityCacheComponents {
  /** The peer's record as the exact bytes it sent (unverified). */
  fetch: (peer: string, signal: AbortSignal) => Promise<Uint8Array>
  /** Verifies the bytes as the record of `peer` (signature by the PeerId's key); throws when they are not. */
  verify: (bytes: Uint8Array, peer: string) => Promise<CapabilityRecord>
  /** True while the peer is connected and not known gone: a record is served only then. */
  usable: (peer: string) => boolean
  /** A record that came back verified is a sign of life of its peer. */
  seen?: (peer: string) => void
}

export interface CapabilityCacheInit {
  /** Records kept. Default: DEFAULT_MAX_RECORDS (1024). */
  maxPeers?: number
  /** Bytes of records kept (as received). Default: DEFAULT_MAX_RECORD_BYTES (4 MiB). */
  maxRecordBytes?: number
}

interface Entry { record: CapabilityRecord, bytes: number }

export class CapabilityCache {
  private readonly c: CapabilityCacheComponents
  private readonly maxPeers: number
  private readonly maxRecordBytes: number
  private readonly records = new Map<string, Entry>()
  private recordBytes = 0

  constructor (components: CapabilityCacheComponents, init: CapabilityCacheInit = {}) {
    this.c = components
    this.maxPeers = init.maxPeers ?? DEFAULT_MAX_RECORDS
    this.maxRecordBytes = init.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
  }

  get size (): number { return this.records.size }
  get bytes (): number { return this.recordBytes }

  /** The peer's verified record: the cached one when it may be served, else fetched, verified and kept. */
  async verified (peer: string, signal: AbortSignal): Promise<CapabilityRecord> {
    const cached = this.get(peer)
    if (cached !== undefined) return cached
    const bytes = await this.c.fetch(peer, signal)
    const record = await this.c.verify(bytes, peer)
    this.remember(peer, record, bytes.byteLength)
    this.c.seen?.(peer)
    return record
  }

  /** Keeps a verified record; `bytes` is its size as received. */
  remember (peer: string, record: CapabilityRecord, bytes: number): void {
    if (bytes > this.maxRecordBytes) return
    this.forget(peer)
    this.records.set(peer, { record, bytes })
    this.recordBytes += bytes
    for (const [p, e] of this.records) {
      if (this.records.size <= this.maxPeers && this.recordBytes <= this.maxRecordBytes) break
      this.records.delete(p)
      this.recordBytes -= e.bytes
    }
  }

  /** The cached record when the peer is usable and the record not expired. */
  get (peer: string, now = Date.now()): CapabilityRecord | undefined {
    const e = this.records.get(peer)
    if (e === undefined) return undefined
    if (e.record.expires_at <= now || !this.c.usable(peer)) return undefined
    return e.record
  }

  /** The cached record whatever the peer's state (for display). */
  known (peer: string): CapabilityRecord | undefined { return this.records.get(peer)?.record }

  /** Drops the peer's record (it went away: fetched again, and checked, if it returns). */
  forget (peer: string): void {
    const e = this.records.get(peer)
    if (e === undefined) return
    this.records.delete(peer)
    this.recordBytes -= e.bytes
  }
}
