/**
 * Every error status a Phase server sends carries its Phase error code in the trailing metadata
 * (`phase-error-code`), so a client rebuilds the very error class (`fromGrpcError`) instead of
 * guessing from the status: INVALID_ARGUMENT alone is six codes. Handlers' errors are tagged
 * where they are answered (server.ts, intake-interceptor.ts, undecodable.ts); this interceptor
 * tags the rest: statuses grpc-js sends itself (a request over `max_receive_message_length`
 * is RESOURCE_EXHAUSTED → `module_too_large`) and any a service sent untagged (health's
 * NOT_FOUND). Only a call to a method no service has is answered before any interceptor runs.
 */
import * as grpc from '@grpc/grpc-js'
import { ERROR_CODE_METADATA_KEY, errorCodeOfStatus } from '@phase-network/protocol/errors'

/** A status as an interceptor sends it (grpc-js does not export its PartialStatusObject). */
type Status = Parameters<grpc.ServerInterceptingCall['sendStatus']>[0]

/**
 * The status with its Phase code added when it has none (OK stays untouched), and its message
 * well-formed: grpc-js percent-encodes the message with `encodeURI`, which throws on a lone
 * surrogate (a peer's refusal can carry one, JSON.parse reads `"\ud800"` as one), and a throw
 * there left the call unanswered and the handler's promise rejected with nothing to catch it.
 */
export function withErrorCode (status: Status): Status {
  if (status.code === grpc.status.OK) return status
  const metadata = status.metadata ?? new grpc.Metadata()
  if (metadata.get(ERROR_CODE_METADATA_KEY).length === 0) metadata.set(ERROR_CODE_METADATA_KEY, errorCodeOfStatus(status.code))
  return status.details === undefined ? { ...status, metadata } : { ...status, details: status.details.toWellFormed(), metadata }
}

/** A status with this code, message and its `phase-error-code`. */
export function errorStatus (err: { code: string, message: string }, grpcCode: number): grpc.StatusObject {
  const metadata = new grpc.Metadata()
  metadata.set(ERROR_CODE_METADATA_KEY, err.code)
  return { code: grpcCode, details: err.message, metadata }
}

/**
 * Must be the first interceptor. grpc-js's base call answers its own refusals by calling its
 * own `sendStatus`, past every interceptor, and every interceptor's status ends there too: so
 * that one method is wrapped on the instance (an own property shadows the prototype's;
 * test/core/grpc-error-codes.test.ts fails if a grpc-js stops calling it) and the base call is passed on,
 * as the next interceptor (intake-interceptor.ts reads its HTTP/2 stream) expects.
 */
export function errorCodeInterceptor (): grpc.ServerInterceptor {
  return (_method, call) => {
    const own = call.sendStatus.bind(call)
    call.sendStatus = (status) => { own(withErrorCode(status)) }
    // grpc-js types an interceptor's result as its class; it only calls the interface.
    return call as grpc.ServerInterceptingCall
  }
}
