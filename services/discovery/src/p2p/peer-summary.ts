/** What `phase peers` shows of a peer's connection and identify data: its own words capped, its transport named. */

/** Longest agent version kept for display. */
export const MAX_AGENT_VERSION = 128
/** Bytes of UTF-8 read for it (4 bytes per character at most). */
const MAX_AGENT_VERSION_BYTES = MAX_AGENT_VERSION * 4

/** identify stores the agent version as UTF-8 bytes in the peer store's metadata. */
export function agentVersionOf (bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return ''
  return new TextDecoder().decode(bytes.subarray(0, MAX_AGENT_VERSION_BYTES)).slice(0, MAX_AGENT_VERSION)
}

/** The transport of a connection, from its remote address: relay, quic or tcp. */
export function transportOf (address: string): 'relay' | 'quic' | 'tcp' {
  return address.includes('/p2p-circuit') ? 'relay' : address.includes('/quic') ? 'quic' : 'tcp'
}
