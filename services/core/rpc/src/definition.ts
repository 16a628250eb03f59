/**
 * The bridge from protobuf-es v2 service descriptors to grpc-js service definitions.
 * There is no official grpc-js generator for protobuf-es v2; this is the one place that
 * knows both shapes.
 */
import type { DescMethod, DescService } from '@bufbuild/protobuf'
import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js'
import { messageCodec } from './codec.ts'

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

/**
 * Messages go through codec.ts (compiled from the message's descriptor: protobuf-es's own bytes;
 * an initializer object is taken as `create` would take it), each made in one Buffer that is not
 * copied again: grpc-js copies it once more into its frame, and `Buffer.from(array)` had copied
 * each one first (a job's 64 MiB module was 64 MiB more, allocated and copied, at every hop).
 */
function toMethodDefinition (service: DescService, method: DescMethod): MethodDefinition<unknown, unknown> {
  const input = messageCodec(method.input)
  const output = messageCodec(method.output)
  return {
    path: methodPath(service, method),
    requestStream: false,
    responseStream: false,
    originalName: method.localName,
    requestSerialize: (value) => input.encode(value),
    requestDeserialize: (bytes) => input.decode(bytes),
    responseSerialize: (value) => output.encode(value),
    responseDeserialize: (bytes) => output.decode(bytes)
  }
}
