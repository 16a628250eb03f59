/**
 * The receipt log: a hash-chained, append-only record of every receipt the signer returned,
 * with signed heads, bounded rotation and torn-tail repair, written by the signer (writer.ts).
 * Its format and read-only verifier (`phase receipts verify-log`) are the protocol's
 * (@phase-network/protocol/receipt-log), so a client checks a log without the signer.
 */
export { ReceiptLog, ReceiptLogError, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, DEFAULT_SYNC_INTERVAL_MS, DEFAULT_HEAD_INTERVAL_MS } from './writer.ts'
export type { ReceiptLogInit, ReceiptLogComponents, ReceiptLogStats, AppendResult } from './writer.ts'
export { verifyReceiptLog, readLog, RECEIPT_LOG_DOMAIN, RECEIPT_LOG_DIR, HEAD_FILE, segmentName } from '@phase-network/protocol/receipt-log'
export type { LogReport, Finding, FindingKind, LogRecord, Entry, ReceiptEntry, HeadEntry } from '@phase-network/protocol/receipt-log'
