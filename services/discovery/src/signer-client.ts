/**
 * Discovery's view of the signer process: the receipt public key (asked once, then cached)
 * and signing. When the signer is down the job fails with UNAVAILABLE; nothing unsigned is
 * ever presented as signed.
 */
import { SignerService, type GetStatusResponse } from '@phase-network/rpc/signer/v1'
import { createGrpcClient, type GrpcClient } from '@phase-network/rpc'
import { PhaseError, ReplayedJobError, UnavailableError, isPhaseError } from '@phase-network/protocol'
import type { UnsignedReceipt } from '@phase-network/protocol'

/** A signer restarting under pm2 is back within this; past it the job fails UNAVAILABLE. */
const SIGN_TIMEOUT_MS = 3000
/**
 * The signer refuses a request it reads later than this before our own timeout, so a request
 * queued while it was down is not signed (and logged) after we answered UNAVAILABLE; the rest
 * of the timeout covers signing and the answer's way back.
 */
const SIGN_DEADLINE_MARGIN_MS = 1000
const encoder = new TextEncoder()

export interface SignedReceipt {
  /** The signed receipt, canonical JSON exactly as the signer produced it. */
  receiptJson: Uint8Array
}

export class SignerClient {
  private readonly client: GrpcClient<typeof SignerService>
  private key: string | undefined

  constructor (address: string) {
    this.client = createGrpcClient(SignerService, address, { maxMessageBytes: 1024 * 1024, timeoutMs: SIGN_TIMEOUT_MS, waitForReady: true, multiplex: true })
  }

  async publicKey (options: { signal?: AbortSignal } = {}): Promise<string> {
    if (this.key !== undefined) return this.key
    const response = await this.guard(async () => await this.client.getPublicKey({}, options))
    this.key = response.publicKey
    return this.key
  }

  async sign (receipt: UnsignedReceipt, options: { signal?: AbortSignal } = {}): Promise<SignedReceipt> {
    const response = await this.guard(async () => await this.client.signReceipt({
      receiptJson: encoder.encode(JSON.stringify(receipt)),
      notAfterUnixMs: BigInt(Date.now() + SIGN_TIMEOUT_MS - SIGN_DEADLINE_MARGIN_MS)
    }, options))
    return { receiptJson: response.receiptJson }
  }

  /**
   * Every job id the signer's receipt log holds, oldest first, a page at a time (used at start
   * so the replay guard survives restarts). Each page has its own deadline.
   */
  async * signedJobIds (options: { signal?: AbortSignal } = {}): AsyncGenerator<string[]> {
    let afterSeq = -1n
    for (;;) {
      const page = await this.client.listSignedJobs({ afterSeq, maxIds: 0 }, { ...options, timeoutMs: 10_000 })
      if (page.jobIds.length > 0) yield page.jobIds
      if (!page.more || page.lastSeq <= afterSeq) return
      afterSeq = page.lastSeq
    }
  }

  /** The signer process and its count of signed receipts; throws when it does not answer in 1 s. */
  async status (): Promise<GetStatusResponse> {
    return await this.client.getStatus({}, { timeoutMs: 1000 })
  }

  /** Waits until the signer answers (used at start-up). */
  async waitForReady (timeoutMs: number): Promise<void> {
    await this.client.waitForReady(timeoutMs)
  }

  close (): void { this.client.close() }

  private async guard<T> (fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (isPhaseError(err, 'deadline_exceeded') || isPhaseError(err, 'unavailable')) {
        throw new UnavailableError('signer is unavailable; no receipt can be signed', { cause: err })
      }
      if (isPhaseError(err, 'cancelled')) throw err
      // The signer's log already holds a different receipt for this job id (it never equivocates).
      if (isPhaseError(err, 'replayed_job')) throw new ReplayedJobError('this job id already has a signed receipt on this node; use a fresh nonce')
      // The signer refusing our own receipt is a bug on our side, not the client's input.
      throw new PhaseError('internal', `signer refused the receipt: ${(err as Error).message}`)
    }
  }
}
