/**
 * A PeerId a client names (`--peer`, `peer_id`): malformed is bad input (invalid_argument), not
 * a network failure. The length is bounded before decoding: base58 decoding is quadratic.
 */
import { peerIdOf } from './p2p/peer-ids.ts'
import { InvalidArgumentError } from '@phase-network/protocol'
import { sanitize } from '@phase-network/process'

/** Longest PeerId string accepted (an identity-hashed Ed25519 key is 52 base58 characters). */
export const MAX_PEER_ID_CHARS = 128

/** Throws InvalidArgumentError unless `peerId` is a PeerId in its string form. */
export function checkPeerIdArgument (peerId: string): void {
  if (peerId.length > MAX_PEER_ID_CHARS) throw new InvalidArgumentError(`peer_id is longer than ${MAX_PEER_ID_CHARS} characters`)
  try {
    // Parsed once (p2p/peer-ids.ts): the job that names it parses it again to reach the peer.
    peerIdOf(peerId)
  } catch {
    throw new InvalidArgumentError(`peer_id '${sanitize(peerId, 60)}' is not a libp2p PeerId (base58btc, e.g. 12D3KooW...)`)
  }
}
