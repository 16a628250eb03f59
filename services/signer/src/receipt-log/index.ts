/**
 * The receipt log: a hash-chained, append-only record of every receipt the signer returned,
 * with signed heads, bounded rotation and torn-tail repair (format.ts), written by the signer
 * (writer.ts) and checked read-only by `phase receipts verify-log` (verify.ts).
 */
export { ReceiptLog, ReceiptLogError, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, DEFAULT_SYNC_INTERVAL_MS, DEFAULT_HEAD_INTERVAL_MS } from './writer.ts'
export type { ReceiptLogInit, ReceiptLogComponents, ReceiptLogStats, AppendResult } from './writer.ts'
export { verifyReceiptLog, readLog } from './verify.ts'
export type { LogReport, Finding, FindingKind, LogRecord } from './verify.ts'
export { RECEIPT_LOG_DOMAIN, HEAD_FILE, segmentName, type Entry, type ReceiptEntry, type HeadEntry } from './format.ts'

/** The log's folder under the node's state folder. */
export const RECEIPT_LOG_DIR = 'receipts'
