/**
 * The signer process: holds the node's receipt key and nothing else. It never runs job code
 * and never talks to the network; it signs only schema-valid receipts naming its own key.
 */
import { join } from 'node:path'
import { SignerService } from '@phase-network/rpc/signer/v1'
import { GrpcServer } from '@phase-network/rpc'
import { createReceiptSigner, signDocument } from '@phase-network/protocol/node'
import { privateKeyFromSeed } from '@phase-network/protocol/node'
import { PhaseError, validator } from '@phase-network/protocol'
import type { Logger } from '@phase-network/process'
import { loadOrCreateKey } from './keystore.ts'
import { createSignerService } from './service.ts'
import { ReceiptLog, RECEIPT_LOG_DIR, RECEIPT_LOG_DOMAIN, type ReceiptLogInit } from './receipt-log/index.ts'

export { createSignerService } from './service.ts'
export { loadOrCreateKey, KeyStoreError } from './keystore.ts'
export * from './receipt-log/index.ts'

/** What the service needs of a signer: its public key and a sign function. */
export type ReceiptSigner = Pick<ReturnType<typeof createReceiptSigner>, 'publicKey' | 'sign'>

export interface SignerInit {
  /** Folder holding `receipt-key.json`. */
  stateDir: string
  /** gRPC address to serve, e.g. `unix:/run/phase/signer.sock`. */
  address: string
  /** The receipt log in `<stateDir>/receipts` (sizes, sync and head periods; defaults in receipt-log/writer.ts). */
  receiptLog?: Omit<ReceiptLogInit, 'dir'>
}

export interface SignerComponents {
  logger: Logger
}

export const RECEIPT_KEY_FILE = 'receipt-key.json'

/** The running signer process: start() loads (or creates) the key and serves; stop() is idempotent. */
export class SignerNode {
  private readonly server: GrpcServer
  private readonly init: SignerInit
  private readonly log: Logger
  private started: Promise<string> | undefined
  private receipts: ReceiptLog | undefined
  publicKey: string | undefined

  constructor (components: SignerComponents, init: SignerInit) {
    this.init = init
    this.log = components.logger
    this.server = new GrpcServer({ logger: this.log }, { maxMessageBytes: 1024 * 1024 })
  }

  async start (): Promise<string> {
    this.started ??= this.doStart()
    return await this.started
  }

  private async doStart (): Promise<string> {
    const path = join(this.init.stateDir, RECEIPT_KEY_FILE)
    const key = await loadOrCreateKey(path, { logger: this.log })
    const signer = createReceiptSigner(key.seed)
    if (signer.publicKey !== key.publicKey) {
      throw new PhaseError('internal', `receipt key ${path} is corrupt: its public key does not match its private key`)
    }
    this.publicKey = signer.publicKey
    // Heads of the receipt log are signed with the same key under their own domain prefix.
    const privateKey = privateKeyFromSeed(key.seed)
    const headSigner = { publicKey: signer.publicKey, sign: (doc: object) => signDocument(RECEIPT_LOG_DOMAIN, doc, privateKey) }
    this.receipts = new ReceiptLog({ logger: this.log.child({ component: 'receipt-log' }), headSigner }, { ...this.init.receiptLog, dir: join(this.init.stateDir, RECEIPT_LOG_DIR) })
    this.receipts.open()
    this.server.add(SignerService, createSignerService({ signer, receipts: this.receipts, logger: this.log }))
    // Every receipt is checked against the receipt schema before it is signed: compiled now, in
    // the start (issue 11: loading ajv and compiling it was ~110 ms of the first job's latency).
    validator('receipt')
    const address = await this.server.start(this.init.address)
    this.log.info({ publicKey: signer.publicKey }, 'signer ready')
    return address
  }

  /**
   * Closes the receipt log with a signed head first — calls still in the server's grace period
   * then fail UNAVAILABLE (no receipt returned, none logged), and a supervisor's kill after the
   * grace period cannot cost the final head — then stops serving. Safe to call twice.
   */
  async stop (): Promise<void> {
    await this.started?.catch(() => {})
    await this.receipts?.close()
    await this.server.stop()
  }
}

export function createSigner (components: SignerComponents, init: SignerInit): SignerNode {
  return new SignerNode(components, init)
}
