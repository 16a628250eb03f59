/**
 * Errors of the Phase node: small named classes, and exactly one table that maps them
 * to gRPC status codes and HTTP status codes. Anything not in the table is INTERNAL and
 * its message is never sent to a client (see `toPublicError`).
 */

/**
 * Base of every error Phase sends to a client. `code` is stable and machine-readable. Every
 * class names itself (`override readonly name = '…'`): a minifier renames classes, so a name
 * taken from `constructor.name` would not survive a bundle.
 */
export class PhaseError extends Error {
  override readonly name: string = 'PhaseError'
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** Stable error codes, mirrored by the SDKs and the CLI. */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_manifest'
  | 'invalid_receipt'
  | 'invalid_config'
  | 'invalid_module'
  | 'module_too_large'
  | 'hash_mismatch'
  | 'module_not_cached'
  | 'limit_exceeded'
  | 'replayed_job'
  | 'queue_full'
  | 'unavailable'
  | 'not_found'
  | 'verification_failed'
  | 'unauthenticated'
  | 'cancelled'
  | 'deadline_exceeded'
  | 'internal'
  | 'executor_died'
  | 'module_quarantined'
  | 'invalid_argument'
  | 'host_not_allowed'
  | 'overloaded'
  | 'request_timeout'
  | 'headers_too_large'
  | 'expectation_failed'
  | 'input_not_cached'
  | 'input_too_large'
  | 'runtime_unavailable'

export class InvalidJsonError extends PhaseError {
  override readonly name: string = 'InvalidJsonError'
  constructor (message = 'body is not valid JSON') { super('invalid_json', message) }
}
export class InvalidManifestError extends PhaseError {
  override readonly name: string = 'InvalidManifestError'
  constructor (message: string) { super('invalid_manifest', message) }
}
export class InvalidReceiptError extends PhaseError {
  override readonly name: string = 'InvalidReceiptError'
  constructor (message: string) { super('invalid_receipt', message) }
}
export class InvalidConfigError extends PhaseError {
  override readonly name: string = 'InvalidConfigError'
  constructor (message: string) { super('invalid_config', message) }
}
export class InvalidModuleError extends PhaseError {
  override readonly name: string = 'InvalidModuleError'
  constructor (message: string) { super('invalid_module', message) }
}
export class ModuleTooLargeError extends PhaseError {
  override readonly name: string = 'ModuleTooLargeError'
  constructor (message: string) { super('module_too_large', message) }
}
export class HashMismatchError extends PhaseError {
  override readonly name: string = 'HashMismatchError'
  constructor (message: string) { super('hash_mismatch', message) }
}
export class ModuleNotCachedError extends PhaseError {
  override readonly name: string = 'ModuleNotCachedError'
  constructor (message: string) { super('module_not_cached', message) }
}
export class LimitExceededError extends PhaseError {
  override readonly name: string = 'LimitExceededError'
  constructor (message: string) { super('limit_exceeded', message) }
}
export class ReplayedJobError extends PhaseError {
  override readonly name: string = 'ReplayedJobError'
  constructor (message: string) { super('replayed_job', message) }
}
export class QueueFullError extends PhaseError {
  override readonly name: string = 'QueueFullError'
  constructor (message = 'queue is full, retry later') { super('queue_full', message) }
}
export class UnavailableError extends PhaseError {
  override readonly name: string = 'UnavailableError'
  constructor (message: string, options?: { cause?: unknown }) { super('unavailable', message, options) }
}
export class NotFoundError extends PhaseError {
  override readonly name: string = 'NotFoundError'
  constructor (message: string) { super('not_found', message) }
}
export class VerificationError extends PhaseError {
  override readonly name: string = 'VerificationError'
  /** Which check failed, e.g. 'signature', 'key', 'job_id', 'nonce', 'module_hash', 'stdout_hash'. */
  readonly check: string
  constructor (check: string, message: string) {
    super('verification_failed', message)
    this.check = check
  }
}
export class UnauthenticatedError extends PhaseError {
  override readonly name: string = 'UnauthenticatedError'
  constructor (message = 'missing or wrong API token') { super('unauthenticated', message) }
}
export class CancelledError extends PhaseError {
  override readonly name: string = 'CancelledError'
  constructor (message = 'cancelled') { super('cancelled', message) }
}
export class DeadlineExceededError extends PhaseError {
  override readonly name: string = 'DeadlineExceededError'
  constructor (message = 'deadline exceeded') { super('deadline_exceeded', message) }
}
/** The executor running the job died (killed, crashed) and the job was not run again. */
export class ExecutorDiedError extends PhaseError {
  override readonly name: string = 'ExecutorDiedError'
  constructor (message: string, options?: { cause?: unknown }) { super('executor_died', message, options) }
}
/** Jobs of this module killed executors; the node refuses it for a while. */
export class ModuleQuarantinedError extends PhaseError {
  override readonly name: string = 'ModuleQuarantinedError'
  constructor (message: string) { super('module_quarantined', message) }
}

/** A request field that is malformed but is not part of the manifest (a peer id, a target). */
export class InvalidArgumentError extends PhaseError {
  override readonly name: string = 'InvalidArgumentError'
  constructor (message: string) { super('invalid_argument', message) }
}
/** An HTTP Host header that names neither this machine nor the configured bind address (DNS rebinding). */
export class HostNotAllowedError extends PhaseError {
  override readonly name: string = 'HostNotAllowedError'
  constructor (message: string) { super('host_not_allowed', message) }
}
/** The node's budget of buffered request bytes (or open uploads) is spent; retry later. */
export class OverloadedError extends PhaseError {
  override readonly name: string = 'OverloadedError'
  constructor (message: string) { super('overloaded', message) }
}
/** A client sent its request too slowly (headers, body or a stream that never finished). */
export class RequestTimeoutError extends PhaseError {
  override readonly name: string = 'RequestTimeoutError'
  constructor (message: string) { super('request_timeout', message) }
}
/** HTTP request headers over the server's limit (Node's 16 KiB), refused before any route runs. */
export class HeadersTooLargeError extends PhaseError {
  override readonly name: string = 'HeadersTooLargeError'
  constructor (message: string) { super('headers_too_large', message) }
}
/** An HTTP `Expect` the node cannot meet (only `100-continue` is understood). */
export class ExpectationFailedError extends PhaseError {
  override readonly name: string = 'ExpectationFailedError'
  constructor (message: string) { super('expectation_failed', message) }
}

/** An input file the manifest names is neither sent nor cached on this node: send its bytes. */
export class InputNotCachedError extends PhaseError {
  override readonly name: string = 'InputNotCachedError'
  /** The hashes of the missing files. */
  readonly missing: readonly string[]
  constructor (message: string, missing: readonly string[] = []) {
    super('input_not_cached', message)
    this.missing = missing
  }
}
/** An input file, or one job's input files together, over the node's cap. */
export class InputTooLargeError extends PhaseError {
  override readonly name: string = 'InputTooLargeError'
  constructor (message: string) { super('input_too_large', message) }
}
/**
 * The job needs a runtime this node does not run (`requirements.runtime`), or a feature its
 * runtime does not support (e.g. input files or fuel on `wasmer`): another node may run it.
 */
export class RuntimeUnavailableError extends PhaseError {
  override readonly name: string = 'RuntimeUnavailableError'
  constructor (message: string) { super('runtime_unavailable', message) }
}

/** gRPC status numbers (kept here so the core has no dependency on grpc-js). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16
} as const

/** The one table: error code → gRPC status and HTTP status. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, { grpc: number, http: number }>> = Object.freeze({
  invalid_json: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  invalid_manifest: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 422 },
  invalid_receipt: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 422 },
  invalid_config: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 422 },
  invalid_module: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 422 },
  module_too_large: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 413 },
  hash_mismatch: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 422 },
  module_not_cached: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 409 },
  limit_exceeded: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 422 },
  replayed_job: { grpc: GrpcStatus.ALREADY_EXISTS, http: 409 },
  queue_full: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429 },
  unavailable: { grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  not_found: { grpc: GrpcStatus.NOT_FOUND, http: 404 },
  verification_failed: { grpc: GrpcStatus.DATA_LOSS, http: 502 },
  unauthenticated: { grpc: GrpcStatus.UNAUTHENTICATED, http: 401 },
  cancelled: { grpc: GrpcStatus.CANCELLED, http: 499 },
  deadline_exceeded: { grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 504 },
  internal: { grpc: GrpcStatus.INTERNAL, http: 500 },
  executor_died: { grpc: GrpcStatus.ABORTED, http: 502 },
  module_quarantined: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 422 },
  invalid_argument: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  host_not_allowed: { grpc: GrpcStatus.PERMISSION_DENIED, http: 421 },
  overloaded: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 503 },
  request_timeout: { grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 408 },
  headers_too_large: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 431 },
  expectation_failed: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 417 },
  input_not_cached: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 409 },
  input_too_large: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 413 },
  runtime_unavailable: { grpc: GrpcStatus.FAILED_PRECONDITION, http: 422 }
})

/** The gRPC metadata key (trailers) that carries the Phase error code of every error a Phase server sends. */
export const ERROR_CODE_METADATA_KEY = 'phase-error-code'

/**
 * Status → code, only for an error without `phase-error-code`: one grpc-js raised itself (on
 * either side) or a server that is not a Phase node. grpc-js's own RESOURCE_EXHAUSTED is a
 * message over a size cap; the other codes name no more than the status does.
 */
const GRPC_TO_CODE: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [GrpcStatus.INVALID_ARGUMENT, 'invalid_argument'],
  [GrpcStatus.RESOURCE_EXHAUSTED, 'module_too_large'],
  [GrpcStatus.FAILED_PRECONDITION, 'module_not_cached'],
  [GrpcStatus.ALREADY_EXISTS, 'replayed_job'],
  [GrpcStatus.UNAVAILABLE, 'unavailable'],
  [GrpcStatus.NOT_FOUND, 'not_found'],
  [GrpcStatus.UNAUTHENTICATED, 'unauthenticated'],
  [GrpcStatus.CANCELLED, 'cancelled'],
  [GrpcStatus.DEADLINE_EXCEEDED, 'deadline_exceeded'],
  [GrpcStatus.DATA_LOSS, 'verification_failed']
])

/** The code of an error that came with a gRPC status and no `phase-error-code` (see GRPC_TO_CODE). */
export function errorCodeOfStatus (status: number): ErrorCode {
  return GRPC_TO_CODE.get(status) ?? 'internal'
}

/** The class of each code, so an error rebuilt from its code is the same class, with the same name. */
const ERROR_CLASSES: Readonly<Record<ErrorCode, (message: string) => PhaseError>> = Object.freeze({
  invalid_json: (m) => new InvalidJsonError(m),
  invalid_manifest: (m) => new InvalidManifestError(m),
  invalid_receipt: (m) => new InvalidReceiptError(m),
  invalid_config: (m) => new InvalidConfigError(m),
  invalid_module: (m) => new InvalidModuleError(m),
  module_too_large: (m) => new ModuleTooLargeError(m),
  hash_mismatch: (m) => new HashMismatchError(m),
  module_not_cached: (m) => new ModuleNotCachedError(m),
  limit_exceeded: (m) => new LimitExceededError(m),
  replayed_job: (m) => new ReplayedJobError(m),
  queue_full: (m) => new QueueFullError(m),
  unavailable: (m) => new UnavailableError(m),
  not_found: (m) => new NotFoundError(m),
  // The check that failed (and an input_not_cached error's hashes) stay in the message.
  verification_failed: (m) => new VerificationError('remote', m),
  unauthenticated: (m) => new UnauthenticatedError(m),
  cancelled: (m) => new CancelledError(m),
  deadline_exceeded: (m) => new DeadlineExceededError(m),
  internal: (m) => new PhaseError('internal', m),
  executor_died: (m) => new ExecutorDiedError(m),
  module_quarantined: (m) => new ModuleQuarantinedError(m),
  invalid_argument: (m) => new InvalidArgumentError(m),
  host_not_allowed: (m) => new HostNotAllowedError(m),
  overloaded: (m) => new OverloadedError(m),
  request_timeout: (m) => new RequestTimeoutError(m),
  headers_too_large: (m) => new HeadersTooLargeError(m),
  expectation_failed: (m) => new ExpectationFailedError(m),
  input_not_cached: (m) => new InputNotCachedError(m),
  input_too_large: (m) => new InputTooLargeError(m),
  runtime_unavailable: (m) => new RuntimeUnavailableError(m)
})

/** A PhaseError of `code`'s own class (an unknown code is `internal`). */
export function phaseError (code: string, message: string): PhaseError {
  return (Object.hasOwn(ERROR_CLASSES, code) ? ERROR_CLASSES[code as ErrorCode] : ERROR_CLASSES.internal)(message)
}

/** What a client may see of an error: a PhaseError as is, anything else as a generic INTERNAL. */
export function toPublicError (err: unknown): PhaseError {
  if (err instanceof PhaseError) return err
  return new PhaseError('internal', 'internal error')
}

/**
 * Rebuilds a PhaseError from a gRPC error that crossed a process boundary. A Phase server puts
 * our code in the `phase-error-code` trailer of every error it sends, and it wins; only without
 * it (grpc-js's own errors, a server that is not a Phase node) does the status pick the code.
 */
export function fromGrpcError (err: { code?: number, details?: string, metadata?: { get(key: string): unknown[] } }): PhaseError {
  const sent = err.metadata?.get(ERROR_CODE_METADATA_KEY)?.[0]
  const code = typeof sent === 'string' && Object.hasOwn(ERROR_TABLE, sent) ? sent : errorCodeOfStatus(err.code ?? GrpcStatus.UNKNOWN)
  return phaseError(code, err.details ?? 'remote error')
}

/** True when `err` is a PhaseError with this code (checks the field, not the class). */
export function isPhaseError (err: unknown, code?: ErrorCode): err is PhaseError {
  return typeof err === 'object' && err !== null && typeof (err as PhaseError).code === 'string' &&
    Object.hasOwn(ERROR_TABLE, (err as PhaseError).code) && (code === undefined || (err as PhaseError).code === code)
}
