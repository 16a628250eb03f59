/**
 * @phase-network/sdk/receipt-log — check a node's receipt log (its folder, or a copy): the hash
 * chain, every receipt and every signed head against the node's receipt key. Node.js only (it
 * reads files). `phase receipts verify-log` is this.
 */
export { verifyReceiptLog, readLog, RECEIPT_LOG_DIR } from '@phase-network/protocol/receipt-log'
export type { LogReport, Finding, FindingKind, LogRecord } from '@phase-network/protocol/receipt-log'
