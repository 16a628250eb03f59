/**
 * The receipt log's on-disk format, shared by the writer (the signer) and the read-only
 * verifier (`phase receipts verify-log`, through @phase-network/protocol/receipt-log).
 *
 * A log is a folder of segment files `seg-<first seq, 16 digits>.jsonl` plus `head.json`.
 * Each line of a segment is one entry: the RFC 8785 canonical JSON of an object with
 * `type`, `seq` (0, 1, 2, … across all segments) and `prev` (SHA-256 hex of the previous
 * entry's line bytes; 64 zeros for entry 0). An entry's hash is SHA-256 of its line bytes
 * without the newline, so every entry commits to the whole chain before it.
 *
 *   start   first entry of every segment: names the segment, and `pruned_through` — the
 *           highest seq of the older segments deleted by rotation so far (null: none), so the
 *           first retained segment says what it continues from and deletions are on record.
 *   receipt one signed receipt: `job_id` and `receipt`, the exact canonical bytes the signer
 *           returned, as a JSON string.
 *   head    a signed checkpoint: Ed25519 over `phase-receipt-log:v1:` || JCS(entry without
 *           its signature), by the node's receipt key. Written periodically, at rotation and
 *           on stop; the latest one is also copied to head.json, so a log cut short before it
 *           is caught as truncated.
 *   repair  written at start-up after a torn tail (a partial last line, from a crash mid-append)
 *           was cut off: how many bytes, in which segment. Repairs stay visible for ever.
 */
import { sha256Hex } from '../sha256-native.ts'
import { canonicalBytes } from '../canonical.ts'
import { RECEIPT_LOG_DOMAIN } from '../crypto/domain.ts'
import { MAX_RECEIPT_BYTES } from '../documents/index.ts'

/** Domain prefix of head signatures (kept with the others, so no two document kinds share one). */
export { RECEIPT_LOG_DOMAIN }
export const HEAD_FILE = 'head.json'
export const GENESIS_PREV = '0'.repeat(64)
/**
 * Longest entry line accepted. A receipt entry holds the receipt as a JSON string: at most
 * MAX_RECEIPT_BYTES (128 KiB, the largest a verifier reads; a typical one is ~1.3 KiB), every
 * byte written at most twice (`"` and `\` are escaped), plus the entry's own members.
 */
export const MAX_ENTRY_BYTES = 2 * MAX_RECEIPT_BYTES + 1024
const SEGMENT_RE = /^seg-([0-9]{16})\.jsonl$/

export interface EntryBase { seq: number, prev: string }
export interface StartEntry extends EntryBase { type: 'start', time: string, segment: string, pruned_through: number | null }
export interface ReceiptEntry extends EntryBase { type: 'receipt', job_id: string, receipt: string }
export interface HeadEntry extends EntryBase { type: 'head', time: string, public_key: string, signature: string }
export interface RepairEntry extends EntryBase { type: 'repair', time: string, segment: string, truncated_bytes: number }
export type Entry = StartEntry | ReceiptEntry | HeadEntry | RepairEntry

export function segmentName (firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.jsonl`
}

/** The first seq a segment file name claims, or undefined for other files. */
export function segmentFirstSeq (name: string): number | undefined {
  const m = SEGMENT_RE.exec(name)
  return m === null ? undefined : Number(m[1])
}

/** Segment file names in a folder listing, oldest first. */
export function segmentNames (names: readonly string[]): string[] {
  return names.filter((n) => SEGMENT_RE.test(n)).sort()
}

/** The line bytes (no newline) of an entry: its canonical JSON. */
export function encodeEntry (entry: Entry): Uint8Array {
  return canonicalBytes(entry)
}

const encoder = new TextEncoder()

/**
 * encodeEntry for a receipt entry, built directly on the signer's hot path: keys in JCS order,
 * and JCS serializes strings exactly as JSON.stringify does (RFC 8785 §3.2.2.2), so the bytes
 * are the same (verify-log re-checks every line's canonical form).
 */
export function encodeReceiptEntry (entry: ReceiptEntry): Uint8Array {
  return encoder.encode(`{"job_id":${JSON.stringify(entry.job_id)},"prev":${JSON.stringify(entry.prev)},"receipt":${JSON.stringify(entry.receipt)},"seq":${entry.seq},"type":"receipt"}`)
}

const hex = sha256Hex!

export function entryHash (line: Uint8Array): string {
  return hex(line)
}

export function receiptHash (receipt: Uint8Array): string {
  return hex(receipt)
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Parses one line; throws a plain Error saying what is wrong with it. `canonical: false` skips
 * the canonical-form check (the signer's start-up, where the chain hashes already cover the
 * bytes; re-encoding every entry would double the start-up time of a full log).
 */
export function parseEntry (line: Uint8Array, options: { canonical?: boolean } = {}): Entry {
  if (line.byteLength > MAX_ENTRY_BYTES) throw new Error(`entry is ${line.byteLength} bytes, over ${MAX_ENTRY_BYTES}`)
  const doc = JSON.parse(decoder.decode(line)) as Entry
  if (typeof doc !== 'object' || doc === null || !Number.isSafeInteger(doc.seq) || doc.seq < 0 || typeof doc.prev !== 'string' || !/^[0-9a-f]{64}$/.test(doc.prev)) {
    throw new Error('entry lacks a valid seq or prev')
  }
  switch (doc.type) {
    case 'start': if (typeof doc.segment !== 'string' || (doc.pruned_through !== null && !Number.isSafeInteger(doc.pruned_through))) throw new Error('malformed start entry'); break
    case 'receipt': if (typeof doc.job_id !== 'string' || typeof doc.receipt !== 'string') throw new Error('malformed receipt entry'); break
    case 'head': if (typeof doc.public_key !== 'string' || typeof doc.signature !== 'string') throw new Error('malformed head entry'); break
    case 'repair': if (typeof doc.segment !== 'string' || !Number.isSafeInteger(doc.truncated_bytes)) throw new Error('malformed repair entry'); break
    default: throw new Error('unknown entry type')
  }
  if (options.canonical === false) return doc
  // Canonical form is part of the format: a re-encoded (edited) line is caught even if it parses.
  const again = encodeEntry(doc)
  if (Buffer.compare(Buffer.from(again), Buffer.from(line.buffer, line.byteOffset, line.byteLength)) !== 0) throw new Error('entry is not in canonical form')
  return doc
}

/** Splits a segment's bytes into whole lines and the torn tail after the last newline. */
export function splitLines (bytes: Uint8Array): { lines: Uint8Array[], offsets: number[], tail: number } {
  const lines: Uint8Array[] = []
  const offsets: number[] = []
  let start = 0
  for (;;) {
    const nl = bytes.indexOf(0x0a, start)
    if (nl === -1) break
    lines.push(bytes.subarray(start, nl))
    offsets.push(start)
    start = nl + 1
  }
  return { lines, offsets, tail: bytes.byteLength - start }
}
