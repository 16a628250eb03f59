/**
 * Typed gRPC clients of protobuf-es services over grpc-js. Each RPC becomes an async function
 * taking `{ signal, timeoutMs }`; errors come back as PhaseErrors (see `fromGrpcError`).
 */
import * as grpc from '@grpc/grpc-js'
import { create, type DescService } from '@bufbuild/protobuf'
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
   * stream (see mux.ts). Default: false.
   */
  multiplex?: boolean
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
  if (init.multiplex === true) {
    for (const method of service.methods) {
      const unary = multiplexedUnary(service, method)
      if (unary === undefined) continue
      const mux = new MuxClient(client, method, unary, init.waitForReady ?? false)
      muxes.push(mux)
      api[unary.localName] = async (request: object, options: CallOptions = {}) =>
        await mux.call(request, { ...options, timeoutMs: options.timeoutMs ?? init.timeoutMs })
    }
  }
  for (const method of service.methods) {
    if (method.methodKind !== 'unary' || api[method.localName] !== undefined) continue
    const def = definition[method.localName]!
    api[method.localName] = async (request: object, options: CallOptions = {}) => {
      const signal = options.signal
      if (signal?.aborted === true) throw new CancelledError()
      const metadata = new grpc.Metadata({ waitForReady: options.waitForReady ?? init.waitForReady ?? false })
      for (const [k, v] of Object.entries(options.metadata ?? {})) metadata.set(k, v)
      const timeoutMs = options.timeoutMs ?? init.timeoutMs
      const callOptions: grpc.CallOptions = timeoutMs !== undefined ? { deadline: Date.now() + timeoutMs } : {}
      return await new Promise((resolve, reject) => {
        const call = client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize,
          create(method.input, request as never), metadata, callOptions, (err, value) => {
            signal?.removeEventListener('abort', onAbort)
            if (err != null) reject(fromGrpcError(err))
            else resolve(value)
          })
        const onAbort = (): void => call.cancel()
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
  }
  return api as GrpcClient<S>
}
