/**
 * Read-only checks of a receipt log folder (`phase receipts verify-log`, and reading for
 * `list` / `export`). Never repairs anything: a torn tail the signer would cut at its next
 * start is reported here as `truncated`.
 *
 * What it names: `edited` (entry N changed: it does not parse, is not canonical, its receipt or
 * the chain link after it does not verify), `reordered`, `deleted` (entries missing, from the
 * middle or the oldest segments without a `pruned_through` record), `truncated` (a partial
 * last line, or the log ends before the signed head in head.json), `bad_head_signature`,
 * `duplicate_job` (two receipts for one job id: equivocation). Not detectable without an outside
 * copy: whole entries cut after the last signed head (at most one head interval, default 10 s).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { verify } from 'node:crypto'
import { signingBytes } from '../crypto/index.ts'
import { publicKeyFromHex } from '../crypto/keys.ts'
import { hexToBytes } from '../crypto/hex.ts'
import { verifyReceiptNode } from '../crypto/verify-node.ts'
import { GENESIS_PREV, HEAD_FILE, RECEIPT_LOG_DOMAIN, entryHash, parseEntry, segmentFirstSeq, segmentNames, splitLines, type Entry, type HeadEntry } from './format.ts'

export type FindingKind = 'edited' | 'reordered' | 'deleted' | 'truncated' | 'bad_head_signature' | 'duplicate_job'

export interface Finding {
  kind: FindingKind
  /** The entry concerned, when known. */
  seq?: number
  segment?: string
  line?: number
  message: string
}

export interface LogRecord {
  segment: string
  /** 1-based line in its segment. */
  line: number
  bytes: Uint8Array
  hash: string
  entry?: Entry
  error?: string
}

export interface LogReport {
  ok: boolean
  findings: Finding[]
  segments: string[]
  entries: number
  receipts: number
  heads: number
  firstSeq: number | null
  lastSeq: number | null
  /** Highest seq deleted by rotation, as recorded in the chain. */
  prunedThrough: number | null
  /** Torn tails the signer cut at start-up (from `repair` entries). */
  repairs: Array<{ seq: number, segment: string, truncatedBytes: number, time: string }>
  /** The newest signed head: in the chain and in head.json. */
  lastHead: { seq: number, time: string } | null
  /** Entries after the newest signed head (covered by the chain, not yet by a signature). */
  unsignedTail: number
}

/** Every whole line of every segment, oldest first, plus torn tails. Throws ENOENT-style errors. */
export function readLog (dir: string): { records: LogRecord[], segments: string[], torn: Array<{ segment: string, bytes: number }> } {
  const segments = segmentNames(readdirSync(dir))
  const records: LogRecord[] = []
  const torn: Array<{ segment: string, bytes: number }> = []
  for (const segment of [...segments]) {
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(readFileSync(join(dir, segment)))
    } catch (err) {
      // Deleted by rotation between listing and reading (a live log): as if never listed.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      segments.splice(segments.indexOf(segment), 1)
      continue
    }
    const { lines, tail } = splitLines(bytes)
    for (const [i, bytes] of lines.entries()) {
      const record: LogRecord = { segment, line: i + 1, bytes, hash: entryHash(bytes) }
      try { record.entry = parseEntry(bytes) } catch (err) { record.error = (err as Error).message }
      records.push(record)
    }
    if (tail > 0) torn.push({ segment, bytes: tail })
  }
  return { records, segments, torn }
}

/** Verifies the log in `dir` against the node's receipt public key (64 hex). */
export function verifyReceiptLog (dir: string, options: { publicKey: string }): LogReport {
  const { records, segments, torn } = readLog(dir)
  const findings: Finding[] = []
  const key = hexToBytes(options.publicKey, 32) === undefined ? undefined : publicKeyFromHex(options.publicKey)
  const report: LogReport = { ok: false, findings, segments, entries: records.length, receipts: 0, heads: 0, firstSeq: null, lastSeq: null, prunedThrough: null, repairs: [], lastHead: null, unsignedTail: 0 }
  const at = (r: LogRecord): Pick<Finding, 'segment' | 'line'> => ({ segment: r.segment, line: r.line })
  const jobs = new Map<string, number>()
  let expected: number | undefined
  let prev: string | undefined
  let linkReported = false
  for (const [i, r] of records.entries()) {
    const e = r.entry
    if (e === undefined) {
      findings.push({ kind: 'edited', seq: expected, ...at(r), message: `edited entry ${expected ?? '?'} (${r.segment} line ${r.line}): ${r.error}` })
      if (expected !== undefined) expected++
      prev = r.hash
      linkReported = true
      continue
    }
    if (expected === undefined) {
      report.firstSeq = e.seq
    } else if (e.seq > expected) {
      const missing = Array.from({ length: Math.min(e.seq - expected, 1000) }, (_, k) => expected! + k)
      const later = missing.some((s) => records.slice(i + 1).some((x) => x.entry?.seq === s))
      findings.push(later
        ? { kind: 'reordered', seq: e.seq, ...at(r), message: `reordered: entry ${e.seq} comes where entry ${expected} belongs (${r.segment} line ${r.line})` }
        : { kind: 'deleted', seq: expected, ...at(r), message: `deleted: entries ${expected}..${e.seq - 1} are missing before ${r.segment} line ${r.line}` })
      linkReported = true
    } else if (e.seq < expected) {
      findings.push({ kind: 'reordered', seq: e.seq, ...at(r), message: `reordered: entry ${e.seq} comes after entry ${expected - 1} (${r.segment} line ${r.line})` })
      linkReported = true
    } else if (prev !== undefined && e.prev !== prev && !linkReported) {
      // The link from entry N-1 to N is broken. If N's own link onwards is broken too, N itself
      // was changed (its prev field); otherwise N-1's bytes were.
      const next = records[i + 1]
      const nChanged = next?.entry !== undefined && next.entry.seq === e.seq + 1 && next.entry.prev !== r.hash
      const edited = nChanged ? e.seq : e.seq - 1
      findings.push({ kind: 'edited', seq: edited, message: `edited entry ${edited}: entry ${e.seq} (${r.segment} line ${r.line}) does not chain to the entry before it` })
      linkReported = true
    } else {
      linkReported = false
    }
    expected = Math.max(expected ?? 0, e.seq + 1)
    prev = r.hash
    checkEntry(r, e, key, options.publicKey, findings, jobs, report)
    report.lastSeq = e.seq
    report.unsignedTail = e.type === 'head' ? 0 : report.unsignedTail + 1
  }
  for (const t of torn) {
    findings.push({ kind: 'truncated', segment: t.segment, message: `truncated: ${t.segment} ends with a partial entry (${t.bytes} bytes after the last whole one; a crash mid-append or a cut file)` })
  }
  checkStart(records, report, findings)
  checkHeadFile(dir, records, key, options.publicKey, report, findings)
  if (key === undefined) findings.push({ kind: 'bad_head_signature', message: `the public key ${options.publicKey.slice(0, 70)} is not a valid Ed25519 key (64 hex)` })
  report.ok = findings.length === 0
  return report
}

function checkEntry (r: LogRecord, e: Entry, key: ReturnType<typeof publicKeyFromHex> | undefined, publicKey: string, findings: Finding[], jobs: Map<string, number>, report: LogReport): void {
  const where = `${r.segment} line ${r.line}`
  if ((r.line === 1) !== (e.type === 'start')) findings.push({ kind: 'edited', seq: e.seq, segment: r.segment, line: r.line, message: `edited entry ${e.seq} (${where}): a segment begins with its start entry and only there` })
  if (e.type === 'start') {
    if (e.segment !== r.segment || segmentFirstSeq(r.segment) !== e.seq) findings.push({ kind: 'edited', seq: e.seq, segment: r.segment, message: `edited entry ${e.seq}: start entry names ${e.segment}, found in ${r.segment}` })
    if (e.pruned_through !== null) report.prunedThrough = Math.max(report.prunedThrough ?? -1, e.pruned_through)
  } else if (e.type === 'receipt') {
    report.receipts++
    try {
      const { receipt } = verifyReceiptNode(Buffer.from(e.receipt, 'utf8'), { publicKey })
      if (receipt.job_id !== e.job_id) throw new Error(`names job ${receipt.job_id}`)
    } catch (err) {
      findings.push({ kind: 'edited', seq: e.seq, segment: r.segment, line: r.line, message: `edited entry ${e.seq} (${where}): its receipt does not verify (${(err as Error).message.slice(0, 160)})` })
    }
    const first = jobs.get(e.job_id)
    if (first !== undefined) findings.push({ kind: 'duplicate_job', seq: e.seq, segment: r.segment, line: r.line, message: `entries ${first} and ${e.seq} are two receipts for job ${e.job_id}` })
    else jobs.set(e.job_id, e.seq)
  } else if (e.type === 'head') {
    report.heads++
    if (!headSignatureValid(e, key, publicKey)) findings.push({ kind: 'bad_head_signature', seq: e.seq, segment: r.segment, line: r.line, message: `bad head signature: entry ${e.seq} (${where}) is not signed by ${publicKey.slice(0, 16)}…` })
    report.lastHead = { seq: e.seq, time: e.time }
  } else {
    report.repairs.push({ seq: e.seq, segment: e.segment, truncatedBytes: e.truncated_bytes, time: e.time })
  }
}

function headSignatureValid (e: HeadEntry, key: ReturnType<typeof publicKeyFromHex> | undefined, publicKey: string): boolean {
  const sig = hexToBytes(e.signature, 64)
  if (key === undefined || sig === undefined || e.public_key !== publicKey) return false
  try { return verify(null, signingBytes(RECEIPT_LOG_DOMAIN, e), key, sig) } catch { return false }
}

/** The oldest retained entry is entry 0, or the chain records the deletion of all before it. */
function checkStart (records: LogRecord[], report: LogReport, findings: Finding[]): void {
  const first = records[0]?.entry
  if (first === undefined) {
    if (records.length === 0) findings.push({ kind: 'deleted', message: 'deleted: the log has no entries' })
    return
  }
  if (first.seq === 0) {
    if (first.prev !== GENESIS_PREV) findings.push({ kind: 'edited', seq: 0, message: 'edited entry 0: it names a previous entry' })
  } else if ((report.prunedThrough ?? -1) < first.seq - 1) {
    findings.push({ kind: 'deleted', seq: first.seq, message: `deleted: the log begins at entry ${first.seq}, but rotation recorded deleting only through ${report.prunedThrough ?? 'none'} (older segments were removed by hand)` })
  }
}

/** head.json: the newest signed head, which the chain must still contain, byte for byte. */
function checkHeadFile (dir: string, records: LogRecord[], key: ReturnType<typeof publicKeyFromHex> | undefined, publicKey: string, report: LogReport, findings: Finding[]): void {
  let text: Buffer
  try {
    text = readFileSync(join(dir, HEAD_FILE))
  } catch {
    if (report.heads > 0) findings.push({ kind: 'deleted', message: `deleted: ${HEAD_FILE} is missing but the log holds signed heads` })
    return
  }
  let head: Entry
  try {
    if (text.at(-1) !== 0x0a) throw new Error('no final newline')
    head = parseEntry(new Uint8Array(text.subarray(0, -1)))
    if (head.type !== 'head') throw new Error('not a head entry')
  } catch (err) {
    findings.push({ kind: 'edited', message: `edited ${HEAD_FILE}: ${(err as Error).message}` })
    return
  }
  if (!headSignatureValid(head, key, publicKey)) findings.push({ kind: 'bad_head_signature', seq: head.seq, message: `bad head signature: ${HEAD_FILE} (entry ${head.seq}) is not signed by ${publicKey.slice(0, 16)}…` })
  if (report.lastSeq === null || head.seq > report.lastSeq) {
    findings.push({ kind: 'truncated', seq: head.seq, message: `truncated: the signed head names entry ${head.seq}, the log ends at entry ${report.lastSeq ?? 'none'}` })
    return
  }
  if (report.firstSeq !== null && head.seq < report.firstSeq) return
  const match = records.find((r) => r.entry?.seq === head.seq)
  if (match === undefined || Buffer.compare(Buffer.from(match.bytes), text.subarray(0, -1)) !== 0) {
    findings.push({ kind: 'edited', seq: head.seq, message: `edited entry ${head.seq}: it differs from the signed head in ${HEAD_FILE}` })
  }
  if (report.lastHead === null || report.lastHead.seq < head.seq) report.lastHead = { seq: head.seq, time: head.time }
}
