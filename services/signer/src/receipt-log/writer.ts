/**
 * The signer's receipt log (format in format.ts): every receipt the signer returns is first
 * appended here, and the log is the signer's memory of which job ids it signed, so it never
 * signs two different receipts for one job id — across restarts too.
 *
 * Durability: an entry is written to the segment file (write(2), one call per entry) before
 * its receipt is returned, so a crash of the signer process (kill -9) loses nothing that was
 * returned. fdatasync runs every `syncIntervalMs` (default 100 ms), at each rotation, before
 * every head and on stop: an OS crash or power loss can lose at most the entries of the last
 * interval (their receipts were returned; the job ids they held are then forgotten). With
 * `syncIntervalMs: 0` each receipt waits for an fdatasync (group commit: one fsync covers every
 * entry written while the previous one ran) — nothing returned is ever lost, at ~0.1 ms (quiet)
 * to ~2.5–6.5 ms (busy) more per job on this machine's disk; the default adds ~20 µs
 * (bench/receipt-log.ts).
 *
 * Start-up (scan.ts) checks the chain, rebuilds the job-id index and cuts a torn tail (bytes
 * after the last newline of the newest segment, left by a crash mid-append); the cut is logged
 * at warn, counted, and recorded in the chain as a `repair` entry. Anything else that is wrong
 * (an edited or missing entry) stops the signer: it never appends to a broken chain.
 *
 * Bounds: segments rotate before they pass `segmentBytes`; older segments are deleted while
 * the retained ones plus a full new one would pass `maxBytes`. The job-id index holds the ids
 * of the retained segments only (≈270 bytes of memory per entry, ≈1.4 KiB of disk), so the
 * replay window is "every job whose receipt is still in the log".
 */
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ReplayedJobError, UnavailableError, InvalidReceiptError, configDefault } from '@phase-network/protocol'
import type { Logger } from '@phase-network/process'
import { GENESIS_PREV, HEAD_FILE, MAX_ENTRY_BYTES, encodeEntry, encodeReceiptEntry, entryHash, receiptHash, segmentName, type Entry, type ReceiptEntry } from '@phase-network/protocol/receipt-log'
import { scanLog, ReceiptLogError, type Segment } from './scan.ts'

export { ReceiptLogError } from './scan.ts'

/** The config's defaults (receipt_log.*, schemas/config.schema.json). */
export const DEFAULT_MAX_BYTES = configDefault('receipt_log.max_bytes')
export const DEFAULT_SEGMENT_BYTES = configDefault('receipt_log.segment_bytes')
export const DEFAULT_SYNC_INTERVAL_MS = configDefault('receipt_log.sync_interval_ms')
export const DEFAULT_HEAD_INTERVAL_MS = configDefault('receipt_log.head_interval_ms')
/** Room kept in a segment for the head entry written when it is closed. */
const HEAD_RESERVE_BYTES = 1024

export interface ReceiptLogInit {
  /** Folder of the log, e.g. `<state>/receipts`. */
  dir: string
  /** Disk the retained segments may use, bytes. Default 64 MiB; at least 2 × segmentBytes. */
  maxBytes?: number
  /** Size at which a segment is closed and a new one started. Default 4 MiB. */
  segmentBytes?: number
  /** fdatasync period; 0: before each append returns. Default 100 ms. */
  syncIntervalMs?: number
  /** A signed head at most this long after an append. Default 10 s. */
  headIntervalMs?: number
}

export interface ReceiptLogComponents {
  logger: Logger
  /** Signs a head: Ed25519 over the log domain prefix || JCS(doc), 128 hex. */
  headSigner: { publicKey: string, sign: (doc: object) => string }
}

export interface AppendResult {
  /** The same receipt was already in the log (nothing appended). */
  duplicate: boolean
  /** Resolves when the entry is on disk (fdatasync), with syncIntervalMs 0; else undefined. */
  durable?: Promise<void>
}

export interface ReceiptLogStats {
  entries: number
  bytes: number
  segments: number
  firstSeq: number
  lastSeq: number
  jobIds: number
  tornTailsRepaired: number
}

export class ReceiptLog {
  private readonly dir: string
  private readonly maxBytes: number
  private readonly segmentBytes: number
  private readonly syncIntervalMs: number
  private readonly headIntervalMs: number
  private readonly log: Logger
  private readonly headSigner: ReceiptLogComponents['headSigner']
  private index = new Map<string, { hash: string, seq: number }>()
  private segments: Segment[] = []
  private fd = -1
  private nextSeq = 0
  private lastHash = GENESIS_PREV
  private prunedThrough: number | null = null
  private lastHeadSeq = -1
  private unsynced = false
  private syncing: Promise<void> | undefined
  /** The descriptor the fdatasync in flight works on (closed only once that sync is done). */
  private syncingFd = -1
  /** A rotated-away descriptor to close when its fdatasync in flight ends. */
  private closeAfterSync = -1
  private waiters: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  private flushing = false
  private headChain: Promise<void> = Promise.resolve()
  private timers: NodeJS.Timeout[] = []
  private broken: Error | undefined
  private repaired = 0
  private closing = false
  private headFileSeq = -1

  constructor (components: ReceiptLogComponents, init: ReceiptLogInit) {
    this.log = components.logger
    this.headSigner = components.headSigner
    this.dir = init.dir
    this.segmentBytes = init.segmentBytes ?? DEFAULT_SEGMENT_BYTES
    this.maxBytes = init.maxBytes ?? DEFAULT_MAX_BYTES
    this.syncIntervalMs = init.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS
    this.headIntervalMs = init.headIntervalMs ?? DEFAULT_HEAD_INTERVAL_MS
    if (this.maxBytes < 2 * this.segmentBytes) throw new ReceiptLogError(`receipt log: maxBytes (${this.maxBytes}) must be at least 2 × segmentBytes (${this.segmentBytes})`)
  }

  /** Loads (or creates) the log, repairs a torn tail, and starts the sync and head timers. */
  open (): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    // Temp files of a segment or head.json whose rename a crash prevented: never part of the log.
    for (const name of readdirSync(this.dir)) if (name.startsWith('.') && name.endsWith('.tmp')) unlinkSync(join(this.dir, name))
    const scan = scanLog(this.dir, this.headSigner.publicKey)
    this.segments = scan.segments
    this.index = scan.index
    this.nextSeq = scan.nextSeq
    this.lastHash = scan.lastHash
    this.prunedThrough = scan.prunedThrough
    this.lastHeadSeq = scan.lastHeadSeq
    const torn = scan.torn
    if (this.segments.length === 0) {
      this.startSegment(null)
      // A signed head and head.json from the first moment: head.json then always exists beside
      // a log with heads (its absence is tampering, not a log still young), and only lags the
      // chain by one head interval at most.
      const line = this.writeHead()
      fdatasyncSync(this.fd)
      this.writeHeadFile(line, this.lastHeadSeq)
    } else {
      const last = this.segments[this.segments.length - 1]!
      this.fd = openSync(join(this.dir, last.name), 'a', 0o600)
    }
    if (torn !== undefined) {
      this.repaired++
      this.log.warn({ segment: torn.segment, truncatedBytes: torn.bytes }, 'receipt log: cut a torn tail left by a crash mid-append')
      this.appendEntry({ type: 'repair', seq: this.nextSeq, prev: this.lastHash, time: new Date().toISOString(), segment: torn.segment, truncated_bytes: torn.bytes })
      fdatasyncSync(this.fd)
    }
    this.finishPruning()
    const every = (ms: number, fn: () => void): void => { const t = setInterval(fn, ms); t.unref(); this.timers.push(t) }
    if (this.syncIntervalMs > 0) every(this.syncIntervalMs, () => { if (this.unsynced) this.sync().catch(() => {}) })
    every(this.headIntervalMs, () => { this.head().catch((err: unknown) => this.log.error({ err }, 'receipt log: cannot write a signed head')) })
    this.log.info({ dir: this.dir, ...this.stats() }, 'receipt log open')
  }

  /**
   * Records a signed receipt (its exact canonical bytes) for `jobId`, before the signer returns
   * it. The same bytes again: `duplicate`, nothing appended. Other bytes for a logged job id:
   * ReplayedJobError — the signer never equivocates.
   */
  append (jobId: string, receipt: Uint8Array): AppendResult {
    if (this.broken !== undefined) throw new UnavailableError(`receipt log cannot be written (${this.broken.message}); no receipt can be signed`)
    if (this.closing) throw new UnavailableError('the signer is stopping; no receipt can be signed')
    const hash = receiptHash(receipt)
    const known = this.index.get(jobId)
    if (known !== undefined) {
      if (known.hash === hash) return { duplicate: true }
      throw new ReplayedJobError(`job ${jobId} already has a different signed receipt (log entry ${known.seq}); refusing to sign another`)
    }
    const text = Buffer.from(receipt).toString('utf8')
    let entry: ReceiptEntry = { type: 'receipt', seq: this.nextSeq, prev: this.lastHash, job_id: jobId, receipt: text }
    let line = encodeReceiptEntry(entry)
    if (line.byteLength > MAX_ENTRY_BYTES) throw new InvalidReceiptError(`receipt is too large for the log (${line.byteLength} bytes, cap ${MAX_ENTRY_BYTES})`)
    const current = this.segments[this.segments.length - 1]!
    if (current.bytes + line.byteLength + 1 + HEAD_RESERVE_BYTES > this.segmentBytes) {
      try {
        this.rotate()
      } catch (err) {
        // Half a rotation (no new segment, say ENOSPC) leaves no safe place to append: stop signing.
        this.broken ??= err as Error
        this.log.error({ err }, 'receipt log: rotation failed; no more receipts will be signed')
        throw new UnavailableError(`receipt log cannot be rotated (${(err as NodeJS.ErrnoException).code ?? 'error'}); no receipt can be signed`)
      }
      entry = { type: 'receipt', seq: this.nextSeq, prev: this.lastHash, job_id: jobId, receipt: text }
      line = encodeReceiptEntry(entry)
    }
    this.write(line, entry)
    this.segments[this.segments.length - 1]!.jobIds.push(jobId)
    this.index.set(jobId, { hash, seq: entry.seq })
    return { duplicate: false, durable: this.syncIntervalMs === 0 ? this.durable() : undefined }
  }

  /** True when the log holds a receipt for `jobId`. */
  has (jobId: string): boolean { return this.index.has(jobId) }

  /** Logged job ids after `afterSeq` (exclusive, -1 for all), oldest first, at most `max`. */
  jobIds (afterSeq: number, max: number): { ids: string[], lastSeq: number, more: boolean } {
    const ids: string[] = []
    let lastSeq = afterSeq
    for (const [id, { seq }] of this.index) {
      if (seq <= afterSeq) continue
      if (ids.length === max) return { ids, lastSeq, more: true }
      ids.push(id)
      lastSeq = seq
    }
    return { ids, lastSeq, more: false }
  }

  stats (): ReceiptLogStats {
    return {
      entries: this.nextSeq - (this.segments[0]?.firstSeq ?? 0),
      bytes: this.segments.reduce((a, s) => a + s.bytes, 0),
      segments: this.segments.length,
      firstSeq: this.segments[0]?.firstSeq ?? 0,
      lastSeq: this.nextSeq - 1,
      jobIds: this.index.size,
      tornTailsRepaired: this.repaired
    }
  }

  /** Appends a signed head (when anything was appended since the last) and makes it durable. */
  async head (): Promise<void> {
    if (this.broken !== undefined || this.fd === -1 || this.lastHeadSeq === this.nextSeq - 1) return
    const line = this.writeHead()
    const seq = this.lastHeadSeq
    const done = this.headChain.then(async () => {
      await this.sync()
      this.writeHeadFile(line, seq)
    })
    this.headChain = done.catch(() => {})
    await done
  }

  /** Refuses further appends, signs a last head, syncs and closes. Safe to call twice. */
  async close (): Promise<void> {
    this.closing = true
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    if (this.fd === -1) return
    await this.head().catch((err: unknown) => this.log.error({ err }, 'receipt log: cannot write the last head'))
    await this.headChain
    await this.sync().catch(() => {})
    closeSync(this.fd)
    this.fd = -1
  }

  private write (line: Uint8Array, entry: Entry): void {
    const current = this.segments[this.segments.length - 1]!
    const buf = Buffer.allocUnsafe(line.byteLength + 1)
    buf.set(line)
    buf[line.byteLength] = 0x0a
    try {
      let off = 0
      while (off < buf.byteLength) off += writeSync(this.fd, buf, off)
    } catch (err) {
      // A partial write (ENOSPC, EIO) would corrupt every later entry: cut it off, or stop writing.
      try { ftruncateSync(this.fd, current.bytes) } catch { this.broken = err as Error }
      this.log.error({ err }, 'receipt log: append failed')
      throw new UnavailableError(`receipt log cannot be written (${(err as NodeJS.ErrnoException).code ?? 'error'}); no receipt can be signed`)
    }
    current.bytes += buf.byteLength
    this.nextSeq = entry.seq + 1
    this.lastHash = entryHash(line)
    this.unsynced = true
  }

  private appendEntry (entry: Entry): Uint8Array {
    const line = encodeEntry(entry)
    this.write(line, entry)
    return line
  }

  private writeHead (): Uint8Array {
    const unsigned = { type: 'head' as const, seq: this.nextSeq, prev: this.lastHash, time: new Date().toISOString(), public_key: this.headSigner.publicKey }
    const line = this.appendEntry({ ...unsigned, signature: this.headSigner.sign(unsigned) })
    this.lastHeadSeq = unsigned.seq
    return line
  }

  /**
   * Atomically replaces head.json (temp file, fsync, rename, fsync of the folder) — never with an
   * older head (a periodic head's write can finish after a rotation wrote a newer one).
   */
  private writeHeadFile (line: Uint8Array, seq: number): void {
    if (seq <= this.headFileSeq) return
    this.headFileSeq = seq
    const tmp = join(this.dir, `.${HEAD_FILE}.tmp`)
    writeFileSync(tmp, Buffer.concat([line, Buffer.from('\n')]), { mode: 0o600 })
    const fd = openSync(tmp, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
    renameSync(tmp, join(this.dir, HEAD_FILE))
    this.syncDir()
  }

  private syncDir (): void {
    const fd = openSync(this.dir, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
  }

  /**
   * Closes the current segment with a signed head and starts the next; deletes the oldest
   * segments first recorded in the new start entry (`pruned_through`), so the disk stays under
   * maxBytes and deletions are on record. Synchronous: no append can slip in between.
   */
  private rotate (): void {
    const line = this.writeHead()
    fdatasyncSync(this.fd)
    // An fdatasync of this descriptor may be queued in libuv's thread pool (sync()): closing it
    // now made that sync fail with EBADF (the log then refused every receipt), or, once the
    // number was reused by the next segment, sync another file. It is closed when that ends.
    if (this.syncing !== undefined && this.syncingFd === this.fd) this.closeAfterSync = this.fd
    else closeSync(this.fd)
    this.fd = -1
    this.writeHeadFile(line, this.lastHeadSeq)
    const drop: Segment[] = []
    let total = this.segments.reduce((a, s) => a + s.bytes, 0)
    while (total + this.segmentBytes > this.maxBytes && this.segments.length - drop.length > 1) {
      const oldest = this.segments[drop.length]!
      drop.push(oldest)
      total -= oldest.bytes
    }
    if (drop.length > 0) this.prunedThrough = this.segments[drop.length]!.firstSeq - 1
    this.startSegment(this.prunedThrough)
    this.finishPruning()
  }

  /** Writes a new segment whole (temp file + rename), so a segment always begins with its start entry. */
  private startSegment (prunedThrough: number | null): void {
    const name = segmentName(this.nextSeq)
    const entry: Entry = { type: 'start', seq: this.nextSeq, prev: this.lastHash, time: new Date().toISOString(), segment: name, pruned_through: prunedThrough }
    const line = encodeEntry(entry)
    const tmp = join(this.dir, `.${name}.tmp`)
    writeFileSync(tmp, Buffer.concat([line, Buffer.from('\n')]), { mode: 0o600 })
    const fd = openSync(tmp, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
    renameSync(tmp, join(this.dir, name))
    this.syncDir()
    this.fd = openSync(join(this.dir, name), 'a', 0o600)
    this.segments.push({ name, firstSeq: entry.seq, bytes: statSync(join(this.dir, name)).size, jobIds: [] })
    this.nextSeq = entry.seq + 1
    this.lastHash = entryHash(line)
  }

  /** Deletes segments wholly at or below prunedThrough (also after a crash mid-rotation). */
  private finishPruning (): void {
    if (this.prunedThrough === null) return
    while (this.segments.length > 1 && this.segments[1]!.firstSeq - 1 <= this.prunedThrough) {
      const old = this.segments.shift()!
      for (const id of old.jobIds) this.index.delete(id)
      unlinkSync(join(this.dir, old.name))
      this.log.info({ segment: old.name, prunedThrough: this.prunedThrough }, 'receipt log: deleted an old segment')
    }
  }

  private async sync (): Promise<void> {
    if (this.syncing !== undefined) await this.syncing
    if (!this.unsynced || this.fd === -1) return
    this.unsynced = false
    const fd = this.fd
    this.syncingFd = fd
    this.syncing = new Promise<void>((resolve, reject) => fdatasync(fd, (err) => {
      this.syncing = undefined
      this.syncingFd = -1
      if (this.closeAfterSync === fd) {
        this.closeAfterSync = -1
        closeSync(fd)
      }
      if (err !== null) {
        // After a failed fsync the page cache state is unknown (fsyncgate): stop appending.
        this.broken = err
        this.log.error({ err }, 'receipt log: fdatasync failed; no more receipts will be signed')
        reject(new UnavailableError('receipt log cannot be synced; no receipt can be signed'))
      } else resolve()
    }))
    await this.syncing
  }

  /** Group commit: resolves after an fdatasync that began after this entry was written. */
  private async durable (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      if (!this.flushing) this.flushWaiters()
    })
  }

  private flushWaiters (): void {
    this.flushing = true
    const batch = this.waiters
    this.waiters = []
    this.sync().then(() => { for (const w of batch) w.resolve() }, (err: Error) => { for (const w of batch) w.reject(err) }).finally(() => {
      this.flushing = false
      if (this.waiters.length > 0) this.flushWaiters()
    })
  }
}
