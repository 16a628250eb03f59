/**
 * Plain typed shapes of gRPC services: a service implementation is an object of async
 * functions, one per RPC, so a missing RPC is a compile error and no handler ever touches grpc-js.
 */
import type { DescMessage, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf'
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2'

/** What every handler receives beside its request. */
export interface HandlerContext {
  /** Aborted when the client cancels, the deadline passes, or the server shuts down. */
  readonly signal: AbortSignal
  /** Request metadata values by lowercase key (first value only). */
  readonly metadata: ReadonlyMap<string, string>
  /** Remote peer as grpc-js reports it. */
  readonly peer: string
}

type Input<M> = M extends { input: infer I extends DescMessage } ? MessageShape<I> : never
type Output<M> = M extends { output: infer O extends DescMessage } ? MessageInitShape<O> : never

/** Names of the unary methods (the `<Name>Stream` methods are derived from them). */
type UnaryKeys<T extends GenServiceMethods> = { [K in keyof T]: T[K]['methodKind'] extends 'unary' ? K : never }[keyof T]

/** An implementation of service `S`: one async function per unary RPC. */
export type ServiceImpl<S> = S extends GenService<infer T extends GenServiceMethods>
  ? { [K in UnaryKeys<T>]: (request: Input<T[K]>, context: HandlerContext) => Promise<Output<T[K]>> }
  : never

/** A typed client of service `S`: one async function per unary RPC. */
export type ServiceClient<S> = S extends GenService<infer T extends GenServiceMethods>
  ? { [K in UnaryKeys<T>]: (request: MessageInitShape<T[K]['input']>, options?: CallOptions) => Promise<MessageShape<T[K]['output']>> }
  : never

/** Per-call options of a client. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal
  /** Deadline in milliseconds from now. */
  timeoutMs?: number
  /** Wait for the channel to connect (until the deadline) instead of failing at once. */
  waitForReady?: boolean
  /** Extra metadata. */
  metadata?: Record<string, string>
}

export type { DescService }
