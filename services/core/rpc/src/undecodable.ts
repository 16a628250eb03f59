/**
 * Requests whose protobuf cannot be decoded. grpc-js answers a deserializer that throws with
 * INTERNAL "Error deserializing request" and no `phase-error-code`: to a client that is a fault
 * of the node, not of its own bytes. So every request deserializer of the server (ours and
 * health's) returns an `Undecodable` instead of throwing, and the handler wrapper answers it
 * with INVALID_ARGUMENT `invalid_argument` before any handler runs.
 */
import * as grpc from '@grpc/grpc-js'
import { ERROR_TABLE, InvalidArgumentError } from '@phase-network/protocol/errors'
import { errorStatus } from './error-code.ts'

/** Stands in for a request message that did not decode. */
export class Undecodable {
  readonly error: InvalidArgumentError
  constructor (path: string) {
    this.error = new InvalidArgumentError(`request is not a valid protobuf message for ${path}`)
  }
}

/** The same deserializer, returning `Undecodable` where it would throw. */
export function tolerantDeserializer<T> (path: string, deserialize: (bytes: Buffer) => T): (bytes: Buffer) => T | Undecodable {
  return (bytes) => {
    try {
      return deserialize(bytes)
    } catch {
      return new Undecodable(path)
    }
  }
}

/** The typed status of an undecodable request. */
export function undecodableStatus (u: Undecodable): grpc.StatusObject {
  return errorStatus(u.error, ERROR_TABLE[u.error.code].grpc)
}

type AnyHandler = (call: never, callback?: never) => void

/**
 * A service definition whose request deserializers never throw, and its handlers, each of which
 * first refuses an `Undecodable`: unary and server-streaming calls by their single request,
 * client- and bidi-streaming calls on the first undecodable message (the call ends there).
 */
export function guardService (definition: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
  const guardedDefinition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {}
  const guardedImpl: grpc.UntypedServiceImplementation = {}
  for (const [name, method] of Object.entries(definition)) {
    guardedDefinition[name] = { ...method, requestDeserialize: tolerantDeserializer(method.path, method.requestDeserialize) }
    // grpc-js finds a handler by the method's name or its original (camelCase) name.
    const key = impl[name] !== undefined ? name : method.originalName
    const handler = key === undefined ? undefined : impl[key] as AnyHandler | undefined
    if (handler === undefined) continue
    guardedImpl[key!] = (method.requestStream ? guardStream(handler) : guardSingle(handler, method.responseStream)) as never
  }
  return [guardedDefinition, guardedImpl]
}

function guardSingle (handler: AnyHandler, responseStream: boolean): AnyHandler {
  return ((call: { request: unknown, emit: (event: string, err: unknown) => void }, callback?: grpc.sendUnaryData<unknown>) => {
    if (!(call.request instanceof Undecodable)) { handler(call as never, callback as never); return }
    const status = undecodableStatus(call.request)
    // A server-streaming call ends with the status an 'error' event carries.
    if (responseStream) call.emit('error', status)
    else callback!(status as grpc.ServerErrorResponse)
  }) as AnyHandler
}

function guardStream (handler: AnyHandler): AnyHandler {
  return ((call: grpc.ServerReadableStream<unknown, unknown> & { emit: (event: string, err: unknown) => boolean }, callback?: grpc.sendUnaryData<unknown>) => {
    // Checked before the handler's own listeners see the message (this listener comes first).
    call.prependListener('data', (msg: unknown) => {
      if (!(msg instanceof Undecodable)) return
      const status = undecodableStatus(msg)
      if (callback !== undefined) callback(status as grpc.ServerErrorResponse)
      else call.emit('error', status)
    })
    handler(call as never, callback as never)
  }) as AnyHandler
}
