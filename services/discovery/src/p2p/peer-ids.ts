/**
 * PeerIds from their string form, parsed once. A remote job named the same peer three times
 * (the client's argument, the peer's connection, the job stream) and each parse decodes base58
 * and rebuilds the Ed25519 key: ~0.1 ms of CPU per job on the sending node (bench profile).
 *
 * Bounded: at most MAX_CACHED_PEER_IDS entries, only strings of at most MAX_CACHED_PEER_ID_CHARS
 * (an Ed25519 PeerId is 52), each under 1 KiB with its parsed key, so under 1 MiB in all;
 * the least recently used goes first. Only strings that parsed are kept.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'

/** PeerIds kept parsed. */
export const MAX_CACHED_PEER_IDS = 1024
/** Longest string kept (longer ones are parsed each time; no PeerId of ours is that long). */
export const MAX_CACHED_PEER_ID_CHARS = 128

const parsed = new Map<string, PeerId>()

/** The PeerId `s` names; throws as peerIdFromString does when it names none. */
export function peerIdOf (s: string): PeerId {
  const hit = parsed.get(s)
  if (hit !== undefined) {
    // Most recently used last (Map keeps insertion order).
    parsed.delete(s)
    parsed.set(s, hit)
    return hit
  }
  const id = peerIdFromString(s)
  if (s.length <= MAX_CACHED_PEER_ID_CHARS) {
    parsed.set(s, id)
    if (parsed.size > MAX_CACHED_PEER_IDS) parsed.delete(parsed.keys().next().value!)
  }
  return id
}

/** PeerIds kept now (for tests and load reports). */
export function cachedPeerIds (): number {
  return parsed.size
}
