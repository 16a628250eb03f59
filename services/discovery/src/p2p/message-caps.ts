/**
 * How long a peer may take on a job stream and how many of its bytes may be in flight: the
 * config's defaults. How large its messages may be is messageBudget(limits) (peerRequest,
 * peerResult; @phase-network/protocol), derived from the node's own limits.
 */
import { configDefault } from '@phase-network/protocol'

/** Longest wait for each message of a peer on a job stream, ms (p2p.read_timeout_ms's default). */
export const DEFAULT_READ_TIMEOUT_MS = configDefault('p2p.read_timeout_ms')
/** Bytes received from peers and not yet done with, all peers together (p2p.max_inflight_bytes's default). */
export const DEFAULT_MAX_INFLIGHT_BYTES = configDefault('p2p.max_inflight_bytes')
