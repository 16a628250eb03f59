/**
 * @phase-network/protocol/receipt-log — the receipt log's on-disk format and its read-only
 * verifier (Node-only: it reads the log's folder). The signer writes the log with this format;
 * anyone holding the folder (or a copy) and the node's receipt key checks it with
 * `verifyReceiptLog` — `phase receipts verify-log` through the SDK.
 */
export { verifyReceiptLog, readLog } from './verify.ts'
export type { LogReport, Finding, FindingKind, LogRecord } from './verify.ts'
export { RECEIPT_LOG_DOMAIN, HEAD_FILE, GENESIS_PREV, MAX_ENTRY_BYTES, segmentName, segmentNames, segmentFirstSeq, splitLines, parseEntry, entryHash, receiptHash, encodeEntry, encodeReceiptEntry } from './format.ts'
export type { Entry, ReceiptEntry, HeadEntry } from './format.ts'

/** The log's folder under the node's state folder. */
export const RECEIPT_LOG_DIR = 'receipts'
