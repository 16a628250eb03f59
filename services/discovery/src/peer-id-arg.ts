/**
 * A PeerId a client names (`--peer`, `peer_id`): malformed is bad input (invalid_argument), not
 * a network failure. The length is bounded before decoding: base58 decoding is quadratic.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidArgumentError } from '@phase-network/protocol'
import { sanitize } from '@phase-network/process'

/** Longest PeerId string accepted (an identity-hashed Ed25519 key is 52 base58 characters). */
export const MAX_PEER_ID_CHARS = 128

/** Throws InvalidArgumentError unless `peerId` is a PeerId in its string form. */
export function checkPeerIdArgument (peerId: string): void {
  const quoted = sanitize(peerId, 60)
  if (peerId.length > MAX_PEER_ID_CHARS) throw new InvalidArgumentError(`peer_id is longer than ${MAX_PEER_ID_CHARS} characters`)
  try {
    peerIdFromString(peerId)
  } catch {
    throw new InvalidArgumentError(`peer_id '${quoted}' is not a libp2p PeerId (base58btc, e.g. 12D3KooW...)`)
  }
}
