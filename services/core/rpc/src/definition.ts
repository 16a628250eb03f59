/**
 * The bridge from protobuf-es v2 service descriptors to grpc-js service definitions.
 * There is no official grpc-js generator for protobuf-es v2; this is the one place that
 * knows both shapes.
 */
import { fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from '@bufbuild/protobuf'
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

/**
 * A message's protobuf bytes as the Buffer grpc-js wants, over toBinary's own array: grpc-js
 * copies it once more into its frame, and `Buffer.from(array)` would have copied it first (a
 * job's 64 MiB module was 64 MiB more, allocated and copied, at every hop it took).
 */
export function encodeMessage (schema: DescMessage, value: unknown): Buffer {
  return asBuffer(toBinary(schema, value as never))
}

/** The same bytes as a Buffer, without a copy. */
export function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
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
    requestSerialize: (value) => encodeMessage(method.input, value),
    requestDeserialize: (bytes) => fromBinary(method.input, bytes),
    responseSerialize: (value) => encodeMessage(method.output, value),
    responseDeserialize: (bytes) => fromBinary(method.output, bytes)
  }
}
