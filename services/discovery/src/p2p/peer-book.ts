/**
 * What this node knows of other nodes now: their verified capability records and whether they
 * are there. A record is served only for a peer that is connected and not known gone, so a
 * killed node drops out of FindExecutors as soon as its connection does (TCP at once, QUIC
 * within its idle timeout), not when its record expires 10 minutes later. A peer on a QUIC
 * connection is alive (QUIC's keep-alive is the check); one on TCP whose last sign of life is
 * older than `freshMs` is pinged before it is offered. One that does not answer, or whose
 * connection closed, is marked gone: left out without being dialed again for `goneMs`, unless
 * it shows up (connects, answers) first.
 *
 * Bounded: at most `maxPeers` entries in each map and `maxRecordBytes` of records (least
 * recently used dropped first).
 */
import type { CapabilityRecord } from '@phase-network/protocol'

export interface PeerBookHost {
  /**
   * The peer's best open connection: 'live' when its transport notices a silent peer by itself
   * within seconds (QUIC: keep-alive every second, idle timeout 3 s), 'open' for one that can
   * stay open long after the peer is gone (TCP to a host cut off the network), else undefined.
   */
  connection: (peer: string) => 'live' | 'open' | undefined
  /** A ping round trip to the peer (dials when not connected); rejects when it does not answer. */
  ping: (peer: string, signal: AbortSignal) => Promise<unknown>
}

export interface PeerBookInit {
  /** A sign of life this recent makes a ping unnecessary, ms. Default 5000. */
  freshMs?: number
  /** Longest wait for a ping, ms. Default 1000. */
  pingTimeoutMs?: number
  /** A gone peer is left out, not dialed, this long unless it shows up, ms. Default 30000. */
  goneMs?: number
  /** Peers tracked. Default 1024. */
  maxPeers?: number
  /** Bytes of capability records kept. Default 4 MiB. */
  maxRecordBytes?: number
}

interface Entry { record: CapabilityRecord, bytes: number }

export class PeerBook {
  private readonly host: PeerBookHost
  private readonly init: Required<PeerBookInit>
  private readonly records = new Map<string, Entry>()
  private readonly seenAt = new Map<string, number>()
  private readonly goneAt = new Map<string, number>()
  private readonly pings = new Map<string, Promise<boolean>>()
  private recordBytes = 0

  constructor (host: PeerBookHost, init: PeerBookInit = {}) {
    this.host = host
    this.init = { freshMs: 5000, pingTimeoutMs: 1000, goneMs: 30_000, maxPeers: 1024, maxRecordBytes: 4 << 20, ...init }
  }

  get size (): number { return this.records.size }
  get bytes (): number { return this.recordBytes }

  /** A sign of life: a connection opened, a stream answered, a ping came back. */
  seen (peer: string, now = Date.now()): void {
    this.goneAt.delete(peer)
    touch(this.seenAt, peer, now, this.init.maxPeers)
  }

  /** The peer's connection closed or it failed to answer: its record goes, and it is left out for a while. */
  gone (peer: string, now = Date.now()): void {
    this.forget(peer)
    this.seenAt.delete(peer)
    touch(this.goneAt, peer, now, this.init.maxPeers)
  }

  /** True while a peer marked gone has shown no sign of life. */
  isGone (peer: string, now = Date.now()): boolean {
    const at = this.goneAt.get(peer)
    if (at === undefined) return false
    if (now - at < this.init.goneMs) return true
    this.goneAt.delete(peer)
    return false
  }

  /** Keeps a verified record; `bytes` is its size as received. */
  remember (peer: string, record: CapabilityRecord, bytes: number, now = Date.now()): void {
    if (bytes > this.init.maxRecordBytes) return
    this.forget(peer)
    this.records.set(peer, { record, bytes })
    this.recordBytes += bytes
    this.seen(peer, now)
    for (const [p, e] of this.records) {
      if (this.records.size <= this.init.maxPeers && this.recordBytes <= this.init.maxRecordBytes) break
      this.records.delete(p)
      this.recordBytes -= e.bytes
    }
  }

  /** The peer's cached record when it is connected, not gone, and the record not expired. */
  record (peer: string, now = Date.now()): CapabilityRecord | undefined {
    const e = this.records.get(peer)
    if (e === undefined) return undefined
    if (e.record.expires_at <= now || this.isGone(peer, now) || this.host.connection(peer) === undefined) return undefined
    return e.record
  }

  /** The cached record whatever the peer's state (for display). */
  known (peer: string): CapabilityRecord | undefined { return this.records.get(peer)?.record }

  /**
   * True when the peer is there now: on a live (QUIC) connection, or seen within `freshMs` on
   * an open one, else it answered a ping within `pingTimeoutMs`. A gone peer is not dialed:
   * false at once.
   */
  async alive (peer: string, signal?: AbortSignal, now = Date.now()): Promise<boolean> {
    if (this.isGone(peer, now)) return false
    const connection = this.host.connection(peer)
    if (connection === 'live') return true
    const seen = this.seenAt.get(peer)
    if (seen !== undefined && now - seen < this.init.freshMs && connection === 'open') return true
    let p = this.pings.get(peer)
    if (p === undefined) {
      p = this.probe(peer)
      this.pings.set(peer, p)
      void p.finally(() => { this.pings.delete(peer) })
    }
    if (signal === undefined) return await p
    return await Promise.race([p, new Promise<boolean>((resolve) => {
      if (signal.aborted) resolve(false)
      signal.addEventListener('abort', () => { resolve(false) }, { once: true })
    })])
  }

  private async probe (peer: string): Promise<boolean> {
    try {
      await this.host.ping(peer, AbortSignal.timeout(this.init.pingTimeoutMs))
      this.seen(peer)
      return true
    } catch {
      this.gone(peer)
      return false
    }
  }

  private forget (peer: string): void {
    const e = this.records.get(peer)
    if (e === undefined) return
    this.records.delete(peer)
    this.recordBytes -= e.bytes
  }
}

/** Sets `key` as the most recently used entry, dropping the least recently used beyond `max`. */
function touch (map: Map<string, number>, key: string, value: number, max: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > max) map.delete(map.keys().next().value!)
}
