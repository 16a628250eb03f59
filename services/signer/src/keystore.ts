/**
 * The receipt key on disk: created on first start (atomically, mode 0600), loaded afterwards,
 * never regenerated silently — a missing-but-expected or unreadable key stops the signer.
 */
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { writeSecretFile, looseMode } from '@phase-network/process'
import { PhaseError } from '@phase-network/protocol'
import type { Logger } from '@phase-network/process'
import { createReceiptSigner } from '@phase-network/protocol/node'

/** File format of the receipt key (JSON, mode 0600). */
interface KeyFile {
  algorithm: 'ed25519'
  /** Raw 32-byte Ed25519 seed, hex. */
  private_key: string
  /** Raw 32-byte public key, hex (a check against corruption). */
  public_key: string
}

export class KeyStoreError extends PhaseError {
  override readonly name: string = 'KeyStoreError'
  constructor (message: string) { super('internal', message) }
}

export interface LoadedKey {
  seed: Uint8Array
  /** The public key recorded in the file (checked by the caller against the derived one). */
  publicKey: string
  created: boolean
}

/** Loads the key at `path`, creating it when the file does not exist. */
export async function loadOrCreateKey (path: string, components: { logger: Logger }): Promise<LoadedKey> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyStoreError(`cannot read receipt key ${path}: ${(err as Error).message}`)
    return await create(path, components.logger)
  }
  if (await looseMode(path) !== 0) {
    throw new KeyStoreError(`receipt key ${path} is readable by group or others; run: chmod 600 ${path}`)
  }
  let doc: KeyFile
  try {
    doc = JSON.parse(text) as KeyFile
  } catch {
    throw new KeyStoreError(`receipt key ${path} is not valid JSON; refusing to replace it (move it away to create a new key)`)
  }
  if (doc.algorithm !== 'ed25519' || !/^[0-9a-f]{64}$/.test(doc.private_key ?? '') || !/^[0-9a-f]{64}$/.test(doc.public_key ?? '')) {
    throw new KeyStoreError(`receipt key ${path} is malformed; refusing to replace it (move it away to create a new key)`)
  }
  return { seed: Buffer.from(doc.private_key, 'hex'), publicKey: doc.public_key, created: false }
}

async function create (path: string, log: Logger): Promise<LoadedKey> {
  const seed = randomBytes(32)
  const publicKey = createReceiptSigner(seed).publicKey
  const doc: KeyFile = { algorithm: 'ed25519', private_key: seed.toString('hex'), public_key: publicKey }
  try {
    await writeSecretFile(path, Buffer.from(JSON.stringify(doc, null, 2) + '\n'))
  } catch (err) {
    throw new KeyStoreError(`cannot create receipt key ${path}: ${(err as Error).message}`)
  }
  log.info({ path, publicKey }, 'created receipt key')
  return { seed, publicKey, created: true }
}
