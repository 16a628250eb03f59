/**
 * Typed gRPC clients of protobuf-es services over grpc-js. Each RPC becomes an async function
 * taking `{ signal, timeoutMs }`; errors come back as PhaseErrors (see `fromGrpcError`).
 */
import * as grpc from '@grpc/grpc-js'
import type { DescMethod, DescService } from '@bufbuild/protobuf'
import { fromGrpcError, CancelledError } from '@phase-network/protocol/errors'
import { toGrpcDefinition } from './definition.ts'
import { DEFAULT_MAX_MESSAGE_BYTES } from './server.ts'
import type { CallOptions, ServiceClient } from './types.ts'
import { MuxClient, multiplexedUnary } from './mux.ts'

export interface GrpcClientInit {
  /** Largest message sent or accepted. Default: 64 MiB. */
  maxMessageBytes?: number
  /** Default deadline per call in ms. Default: none. */
  timeoutMs?: number
  /**
   * Calls wait (up to their deadline) for the channel to connect instead of failing at once.
   * Right for the node's own processes, which restart under pm2. Default: false.
   */
  waitForReady?: boolean
  /**
   * Send calls of methods that have a `<Method>Stream` sibling as messages on one long-lived
   * stream (see mux.ts); a function chooses per call (by method and request), e.g. to send large
   * requests as unary calls. A stream carries the metadata of the call that opened it: calls with
   * other metadata go unary, as do all calls once the server turned the stream down as
   * unimplemented (an older node). Default: false.
   */
  multiplex?: boolean | ((method: string, request: object) => boolean)
}

/** Local sockets are cheap to redial: retry quickly after a peer process restarts. */
const CHANNEL_BACKOFF = { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 1000 }

/** A typed client plus its lifecycle. */
export type GrpcClient<S> = ServiceClient<S> & {
  /** Closes the channel; safe to call twice. */
  close: () => void
  /** Resolves when the channel is connected, rejects after `timeoutMs`. */
  waitForReady: (timeoutMs: number) => Promise<void>
}

export function createGrpcClient<S extends DescService> (service: S, address: string, init: GrpcClientInit = {}): GrpcClient<S> {
  const maxBytes = init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
    ...CHANNEL_BACKOFF
  })
  const definition = toGrpcDefinition(service)
  const muxes: MuxClient[] = []
  const api: Record<string, unknown> = {
    close: () => { for (const m of muxes) m.close(); client.close() },
    waitForReady: async (timeoutMs: number) => await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + timeoutMs, (err) => err != null ? reject(err) : resolve())
    })
  }
  for (const method of service.methods) {
    if (method.methodKind !== 'unary') continue
    api[method.localName] = unaryCall(client, definition[method.localName] as grpc.MethodDefinition<unknown, unknown>, method, init)
  }
  if (init.multiplex !== undefined && init.multiplex !== false) {
    const chosen = init.multiplex === true ? () => true : init.multiplex
    for (const method of service.methods) {
      const unary = multiplexedUnary(service, method)
      if (unary === undefined) continue
      const mux = new MuxClient(client, method, unary, init.waitForReady ?? false)
      muxes.push(mux)
      const direct = api[unary.localName] as (request: object, options?: CallOptions) => Promise<unknown>
      api[unary.localName] = async (request: object, options: CallOptions = {}) => {
        if (mux.supported && mux.accepts(options.metadata) && chosen(unary.localName, request)) {
          try {
            return await mux.call(request, { ...options, timeoutMs: options.timeoutMs ?? init.timeoutMs })
          } catch (err) {
            // A server without the stream (an older node) refused it before any call ran.
            if (mux.supported) throw err
          }
        }
        return await direct(request, options)
      }
    }
  }
  return api as GrpcClient<S>
}

/** A unary method as an async function: typed errors, deadline, cancel by signal. */
function unaryCall (client: grpc.Client, def: grpc.MethodDefinition<unknown, unknown>, method: DescMethod, init: GrpcClientInit): (request: object, options?: CallOptions) => Promise<unknown> {
  return async (request: object, options: CallOptions = {}) => {
    const signal = options.signal
    if (signal?.aborted === true) throw new CancelledError()
    const metadata = new grpc.Metadata({ waitForReady: options.waitForReady ?? init.waitForReady ?? false })
    for (const [k, v] of Object.entries(options.metadata ?? {})) metadata.set(k, v)
    const timeoutMs = options.timeoutMs ?? init.timeoutMs
    const callOptions: grpc.CallOptions = timeoutMs !== undefined ? { deadline: Date.now() + timeoutMs } : {}
    return await new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize,
        request, metadata, callOptions, (err, value) => {
          signal?.removeEventListener('abort', onAbort)
          if (err != null) reject(fromGrpcError(err))
          else resolve(value)
        })
      const onAbort = (): void => call.cancel()
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
