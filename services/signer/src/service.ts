/**
 * The signer's gRPC service as plain async functions. It signs only schema-valid unsigned
 * receipts that name this signer's own key — never arbitrary bytes.
 */
import { InvalidJsonError } from '../../core/src/errors.ts'
import type { UnsignedReceipt } from '../../core/src/documents/receipt.ts'
import type { SignerService } from '../../core/src/gen/phase/signer/v1/signer_pb.js'
import type { ServiceImpl } from '../../core/src/grpc/types.ts'
import type { Logger } from '../../core/src/logger.ts'
import type { ReceiptSigner } from './index.ts'
import { processInfo } from '../../core/src/process-info.ts'

export interface SignerServiceComponents {
  signer: ReceiptSigner
  logger: Logger
}

const decoder = new TextDecoder('utf-8', { fatal: true })

export function createSignerService ({ signer, logger }: SignerServiceComponents): ServiceImpl<typeof SignerService> {
  let signed = 0n
  return {
    async getStatus () {
      return { process: processInfo(), signedReceipts: signed }
    },
    async getPublicKey () {
      return { publicKey: signer.publicKey, algorithm: 'ed25519' }
    },
    async signReceipt (request) {
      let doc: unknown
      try {
        doc = JSON.parse(decoder.decode(request.receiptJson))
      } catch {
        throw new InvalidJsonError('receipt_json is not valid UTF-8 JSON')
      }
      // The signer checks the schema and that the receipt names its own key.
      const { receipt, canonical } = signer.sign(doc as UnsignedReceipt)
      signed++
      logger.debug({ jobId: receipt.job_id, status: receipt.status }, 'signed receipt')
      return { receiptJson: canonical, signature: receipt.signature }
    }
  }
}
