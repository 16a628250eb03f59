/**
 * How large a message on a job stream may be, and how long its peer may take: derived once from
 * the node's own limits, so a peer can never make this node buffer more than its own caps allow.
 */
import type { LimitsConfig } from '@phase-network/process'

/** Room for the JSON around the bulk of a message (field names, receipt, manifest), bytes. */
export const JSON_SLACK_BYTES = 1024 * 1024
/** Longest wait for each message of a peer on a job stream, ms (p2p.read_timeout_ms's default). */
export const DEFAULT_READ_TIMEOUT_MS = 10_000
/** Bytes received from peers and not yet done with, all peers together (p2p.max_inflight_bytes's default). */
export const DEFAULT_MAX_INFLIGHT_BYTES = 256 * 1024 * 1024

/** Length of `n` bytes as base64 (4 characters per 3 bytes, padded). */
export const base64Bytes = (n: number): number => Math.ceil(n / BASE64_IN) * BASE64_OUT
const BASE64_IN = 3
const BASE64_OUT = 4
/** A byte of an argument may take two in the JSON of the offer (escaped). */
const JSON_ESCAPE_FACTOR = 2
/** stdout and stderr each up to the output cap. */
const OUTPUT_STREAMS = 2

/**
 * The largest message a peer may send this node on a job stream, from the node's own limits:
 * the module (base64 in JSON) or the offer (manifest with stdin and args), plus the JSON around
 * them. Longer ones are refused from their length prefix.
 */
export function jobMessageBytes (limits: Pick<LimitsConfig, 'maxModuleBytes' | 'maxStdinBytes' | 'maxArgsBytes'>): number {
  return Math.max(base64Bytes(limits.maxModuleBytes), base64Bytes(limits.maxStdinBytes) + limits.maxArgsBytes * JSON_ESCAPE_FACTOR) + JSON_SLACK_BYTES
}

/** The largest result this node reads from a peer: stdout and stderr (base64) at its own output cap, the receipt and JSON around them. */
export function jobResultBytes (limits: Pick<LimitsConfig, 'maxOutputBytes'>): number {
  return base64Bytes(limits.maxOutputBytes) * OUTPUT_STREAMS + JSON_SLACK_BYTES
}
