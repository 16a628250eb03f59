/**
 * How big each message of a job may be, from the node's limits: the one formula behind every
 * message cap (the public gRPC API, the HTTP body, discovery → executor, the job protocol
 * between peers). A cap below its budget refuses jobs the limits allow; one above it lets a
 * client make the node buffer more than any job needs.
 */
import configSchema from '@phase-network/schemas/config.schema.json' with { type: 'json' }
import { configDefault } from './documents/config-defaults.ts'

/** Room for everything around the payload: the manifest, protobuf or JSON framing, the receipt. */
export const MESSAGE_ROOM_BYTES = 1024 * 1024

/** The limits a budget is made of (the node's `LimitsConfig` has them all). */
export interface MessageLimits {
  readonly maxModuleBytes: number
  readonly maxStdinBytes: number
  readonly maxArgsBytes: number
  readonly maxOutputBytes: number
  /** Total bytes of one job's input files. Default: limits.max_input_bytes's default. */
  readonly maxInputBytes?: number
}

export interface MessageBudget {
  /** A SubmitJob request on the public gRPC API: module, input files, stdin twice (the bytes, and base64 in the manifest), args and env as JSON, room. */
  readonly grpcRequest: number
  /** A POST /v1/jobs body: the gRPC request as JSON, its bytes as base64 (4/3). */
  readonly httpBody: number
  /**
   * One job with no input files over HTTP (module as base64, stdin twice, args, room): the least the
   * buffered-bytes budget holds (api.max_buffered_bytes is raised to it). Bigger sets of input
   * files go ahead one by one (PUT /v1/blobs).
   */
  readonly httpJobWithoutInputs: number
  /** An ExecuteRequest from discovery to an executor (both ends' cap): module, input files, stdin, args and env, room. */
  readonly executorRequest: number
  /** A message a peer sends on a job stream: the module as base64, or the offer (stdin as base64, args and env as JSON), plus room. */
  readonly peerRequest: number
  /** A result read from a peer: stdout and stderr as base64 at the output cap, the receipt, room. */
  readonly peerResult: number
}

/** Base64 length of `n` bytes (padded). */
const base64Bytes = (n: number): number => Math.ceil(n / 3) * 4

/**
 * Args and env as JSON at their worst: every byte max_args_bytes counts escaped as `\u00XX`. In
 * an ExecuteRequest (protobuf) the framing of each string and map entry makes at most 3× the
 * bytes max_args_bytes counts for it (its bytes, +1 per arg, +2 per env entry).
 */
const ARGS_IN_JSON = 6
const ARGS_IN_PROTOBUF = 3

/**
 * The budgets of a node with these limits. `maxBufferedBytes` (api.max_buffered_bytes), when
 * given, caps the public API's two: a request over the node's whole buffer could never be taken.
 */
export function messageBudget (limits: MessageLimits, maxBufferedBytes = Infinity): MessageBudget {
  const inputs = limits.maxInputBytes ?? configDefault('limits.max_input_bytes')
  const argsJson = limits.maxArgsBytes * ARGS_IN_JSON
  const grpcRequest = limits.maxModuleBytes + inputs + limits.maxStdinBytes * 2 + argsJson + MESSAGE_ROOM_BYTES
  return {
    grpcRequest: Math.min(maxBufferedBytes, grpcRequest),
    httpBody: Math.min(maxBufferedBytes, base64Bytes(grpcRequest)),
    httpJobWithoutInputs: base64Bytes(limits.maxModuleBytes) + limits.maxStdinBytes * 2 + argsJson + MESSAGE_ROOM_BYTES,
    executorRequest: limits.maxModuleBytes + inputs + limits.maxStdinBytes + limits.maxArgsBytes * ARGS_IN_PROTOBUF + MESSAGE_ROOM_BYTES,
    peerRequest: Math.max(base64Bytes(limits.maxModuleBytes), base64Bytes(limits.maxStdinBytes) + argsJson) + MESSAGE_ROOM_BYTES,
    peerResult: base64Bytes(limits.maxOutputBytes) * 2 + MESSAGE_ROOM_BYTES
  }
}

/**
 * The cap of a client that does not know its node's limits (the SDK, the CLI): any answer a
 * node may be configured to send (limits.max_output_bytes at its schema maximum) with the room
 * around it; what it sends is held to the same.
 */
export const CLIENT_MAX_MESSAGE_BYTES = configSchema.properties.limits.properties.max_output_bytes.maximum + MESSAGE_ROOM_BYTES

/**
 * Largest message a client may send on the public job stream (NodeService.SubmitJobStream):
 * enough for a manifest with args, env, stdin of up to ~1 MiB and a small module; larger requests
 * (a module or input files the node lacks) go as unary SubmitJob calls, under the intake's
 * per-request budget. The node refuses a stream message that declares more before buffering it.
 */
export const STREAM_MESSAGE_BYTES = 1 << 20
