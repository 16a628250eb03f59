/** Shared pieces of the receipt-log tests: a key, signed receipts, and a log over a folder. */
import { randomBytes, createHash } from 'node:crypto'
import { createReceiptSigner, signDocument } from '../../services/core/protocol/src/crypto/sign.ts'
import { privateKeyFromSeed } from '../../services/core/protocol/src/crypto/keys.ts'
import { ReceiptLog, RECEIPT_LOG_DOMAIN, type ReceiptLogInit } from '../../services/signer/src/index.ts'
import type { Logger } from '../../services/core/process/src/logger.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { unsignedReceipt } from '../core/receipt-fixture.ts'

export interface TestKey {
  seed: Uint8Array
  publicKey: string
  /** A signed receipt for job `n` (canonical bytes), with optional changed fields. */
  receipt: (n: number | string, fields?: Record<string, unknown>) => { jobId: string, bytes: Uint8Array }
  open: (dir: string, init?: Omit<ReceiptLogInit, 'dir'>, logger?: Logger) => ReceiptLog
}

export function jobIdOf (n: number | string): string {
  return `sha256:${createHash('sha256').update(String(n)).digest('hex')}`
}

export function testKey (seed: Uint8Array = randomBytes(32)): TestKey {
  const signer = createReceiptSigner(seed)
  const privateKey = privateKeyFromSeed(seed)
  const headSigner = { publicKey: signer.publicKey, sign: (doc: object) => signDocument(RECEIPT_LOG_DOMAIN, doc, privateKey) }
  return {
    seed,
    publicKey: signer.publicKey,
    receipt (n, fields = {}) {
      const jobId = jobIdOf(n)
      const { canonical } = signer.sign(unsignedReceipt(signer.publicKey, { job_id: jobId, ...fields }))
      return { jobId, bytes: canonical }
    },
    open (dir, init = {}, logger = silentLogger()) {
      const log = new ReceiptLog({ logger, headSigner }, { ...init, dir })
      log.open()
      return log
    }
  }
}
