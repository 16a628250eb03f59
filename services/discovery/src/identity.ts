/**
 * The node's libp2p identity: an Ed25519 key kept as libp2p's protobuf encoding (68 bytes),
 * created on first start (atomic, 0600) and never regenerated silently. Its PeerId names the
 * node in every receipt.
 */
import { readFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey, PeerId } from '@libp2p/interface'
import { writeSecretFile, looseMode } from '@phase-network/process'
import { PhaseError } from '@phase-network/protocol'
import type { Logger } from '@phase-network/process'

/** The identity's file name under the state folder. */
export const IDENTITY_FILE = 'identity.key'

export interface NodeIdentity {
  privateKey: PrivateKey
  peerId: PeerId
}

export async function loadOrCreateIdentity (path: string, components: { logger: Logger }): Promise<NodeIdentity> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PhaseError('internal', `cannot read identity ${path}: ${(err as Error).message}`)
    const privateKey = await generateKeyPair('Ed25519')
    try {
      await writeSecretFile(path, privateKeyToProtobuf(privateKey))
    } catch (e) {
      throw new PhaseError('internal', `cannot create identity ${path}: ${(e as Error).message}`)
    }
    const peerId = peerIdFromPrivateKey(privateKey)
    components.logger.info({ path, peerId: peerId.toString() }, 'created node identity')
    return { privateKey, peerId }
  }
  if (await looseMode(path) !== 0) throw new PhaseError('internal', `identity ${path} is readable by group or others; run: chmod 600 ${path}`)
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch {
    throw new PhaseError('internal', `identity ${path} is corrupt; refusing to replace it (move it away to create a new identity)`)
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey) }
}
