/**
 * A grpc-js server interceptor that puts every call with a single request message under the
 * node's Intake (see ../intake.ts): the request bytes count against the global budget from the
 * first DATA frame until the call ends, and the request must arrive at the minimum rate and
 * within the deadline, or the call ends with RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED and its
 * typed code. grpc-js itself waits for the whole message (up to max_receive_message_length)
 * and for the half-close before it runs a handler, and never times either out.
 *
 * Bytes are counted on the HTTP/2 stream: grpc-js gives interceptors no view of a message
 * before it is complete. The stream is a private field of grpc-js's base call; without it (a
 * grpc-js that renamed it) only the deadline applies, and a test pins the version we rely on.
 */
import * as grpc from '@grpc/grpc-js'
import { constants, type ServerHttp2Stream } from 'node:http2'
import { ERROR_TABLE, type PhaseError } from '@phase-network/protocol/errors'
import type { Intake } from './intake.ts'
import { errorStatus } from './error-code.ts'

export function intakeInterceptor (intake: Pick<Intake, 'begin'>): grpc.ServerInterceptor {
  return (method, call) => {
    // Streaming requests (the internal multiplexed streams) live as long as their channel.
    if (method.requestStream) return new grpc.ServerInterceptingCall(call)
    let self: grpc.ServerInterceptingCall | undefined
    let ended = false
    const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream
    const upload = intake.begin((err: PhaseError) => {
      if (ended) return
      self?.sendStatus(errorStatus(err, ERROR_TABLE[err.code].grpc))
      // The answer went out before the request ended: ask the client to stop sending (RFC 9113
      // §8.1: RST_STREAM NO_ERROR after a complete response). Otherwise grpc-js keeps decoding
      // the rest into its buffer and HTTP/2 resets the stream with ENHANCE_YOUR_CALM, losing
      // the status.
      setImmediate(() => { if (stream !== undefined && !stream.closed && typeof stream.close === 'function') stream.close(constants.NGHTTP2_NO_ERROR) })
    })
    const end = (): void => { ended = true; upload.release() }
    if (stream !== undefined && typeof stream.on === 'function') {
      stream.on('data', (chunk: Buffer) => {
        upload.arrived(chunk.length)
        upload.reserve(chunk.length)
      })
      stream.once('close', end)
    }
    self = new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveHalfClose: (nextHalfClose) => { upload.received(); nextHalfClose() },
          onCancel: end
        })
      },
      // The handler is done with the request once it answers: a client that is slow to read
      // the answer (HTTP/2 flow control holds the status back) must not keep the budget.
      sendMessage: (message, next) => { upload.release(); next(message) },
      sendStatus: (status, next) => { end(); next(status) }
    })
    return self
  }
}
