/**
 * The signer's gRPC service as plain async functions. It signs only schema-valid unsigned
 * receipts that name this signer's own key — never arbitrary bytes — and returns a receipt
 * only once it is in the receipt log, which also keeps it from signing two different receipts
 * for one job id.
 */
import { DeadlineExceededError, InvalidJsonError, InvalidReceiptError } from '@phase-network/protocol'
import { MAX_RECEIPT_BYTES, type UnsignedReceipt } from '@phase-network/protocol'
import type { SignerService } from '@phase-network/rpc/signer/v1'
import type { ServiceImpl } from '@phase-network/rpc'
import type { Logger } from '@phase-network/process'
import type { ReceiptSigner } from './index.ts'
import type { ReceiptLog } from './receipt-log/index.ts'
import { processInfo } from '@phase-network/rpc'

/** Most job ids in one ListSignedJobs page (~300 KB, under the 1 MiB message cap). */
export const MAX_IDS_PER_PAGE = 4096

export interface SignerServiceComponents {
  signer: ReceiptSigner
  receipts: Pick<ReceiptLog, 'append' | 'jobIds' | 'stats'>
  logger: Logger
}

const decoder = new TextDecoder('utf-8', { fatal: true })

export function createSignerService ({ signer, receipts, logger }: SignerServiceComponents): ServiceImpl<typeof SignerService> {
  let signed = 0n
  return {
    async getStatus () {
      const s = receipts.stats()
      return { process: processInfo(), signedReceipts: signed, logEntries: BigInt(s.entries), logBytes: BigInt(s.bytes), tornTailsRepaired: s.tornTailsRepaired }
    },
    async getPublicKey () {
      return { publicKey: signer.publicKey, algorithm: 'ed25519' }
    },
    async signReceipt (request, ctx) {
      // A call its caller gave up on (late off a queue, or cancelled) must not leave a receipt
      // in the log that nobody received: the caller's retry would then look like a replay.
      if (ctx.signal.aborted) throw new DeadlineExceededError('the caller gave up on this request; not signed')
      if (request.notAfterUnixMs > 0n && BigInt(Date.now()) > request.notAfterUnixMs) {
        throw new DeadlineExceededError('the request arrived after its deadline; not signed')
      }
      // Bounded before it is parsed: no receipt the verifiers would read is larger.
      if (request.receiptJson.byteLength > MAX_RECEIPT_BYTES) {
        throw new InvalidReceiptError(`receipt_json is ${request.receiptJson.byteLength} bytes, more than a receipt may take (${MAX_RECEIPT_BYTES})`)
      }
      let doc: unknown
      try {
        doc = JSON.parse(decoder.decode(request.receiptJson))
      } catch {
        throw new InvalidJsonError('receipt_json is not valid UTF-8 JSON')
      }
      // The signer checks the schema and that the receipt names its own key.
      const { receipt, canonical } = signer.sign(doc as UnsignedReceipt)
      // Logged before it is returned; a different receipt for a logged job id throws replayed_job.
      const { duplicate, durable } = receipts.append(receipt.job_id, canonical)
      if (durable !== undefined) await durable
      if (!duplicate) signed++
      logger.debug({ jobId: receipt.job_id, status: receipt.status, duplicate }, 'signed receipt')
      return { receiptJson: canonical, signature: receipt.signature }
    },
    async listSignedJobs (request) {
      const max = request.maxIds === 0 || request.maxIds > MAX_IDS_PER_PAGE ? MAX_IDS_PER_PAGE : request.maxIds
      const page = receipts.jobIds(Number(request.afterSeq), max)
      return { jobIds: page.ids, lastSeq: BigInt(page.lastSeq), more: page.more }
    }
  }
}
