/**
 * The bridge from protobuf-es v2 service descriptors to grpc-js service definitions.
 * There is no official grpc-js generator for protobuf-es v2; this is the one place that
 * knows both shapes.
 */
import { fromBinary, toBinary, type DescMethod, type DescService } from '@bufbuild/protobuf'
import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js'

/** grpc-js definition of one protobuf-es service (unary methods only, which is all Phase uses). */
export function toGrpcDefinition (service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {}
  for (const method of service.methods) {
    const stream = method.methodKind === 'bidi_streaming'
    if (!stream && method.methodKind !== 'unary') {
      throw new Error(`${service.typeName}.${method.name}: only unary and multiplexing bidi methods are supported`)
    }
    definition[method.localName] = { ...toMethodDefinition(service, method), requestStream: stream, responseStream: stream }
  }
  return definition
}

/** The full gRPC path of a method, e.g. `/phase.signer.v1.SignerService/SignReceipt`. */
export function methodPath (service: DescService, method: DescMethod): string {
  return `/${service.typeName}/${method.name}`
}

function toMethodDefinition (service: DescService, method: DescMethod): MethodDefinition<unknown, unknown> {
  return {
    path: methodPath(service, method),
    requestStream: false,
    responseStream: false,
    originalName: method.localName,
    requestSerialize: (value) => Buffer.from(toBinary(method.input, value as never)),
    requestDeserialize: (bytes) => fromBinary(method.input, bytes),
    responseSerialize: (value) => Buffer.from(toBinary(method.output, value as never)),
    responseDeserialize: (bytes) => fromBinary(method.output, bytes)
  }
}
