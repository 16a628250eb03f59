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
 *
 * Client streams (the public SubmitJobStream, reflection) carry many messages for as long as
 * their channel lives: with `maxStreamMessageBytes`, each message is an upload of its own — read
 * from the gRPC framing on the HTTP/2 stream, so a message that declares more than the cap is
 * refused (INVALID_ARGUMENT limit_exceeded) before any of it is buffered, and one that is still
 * arriving holds its bytes in the budget and runs on the clock. Its bytes leave the budget when
 * it is complete: from then on the stream's handler bounds what it holds (rpc/mux.ts: calls in
 * flight per stream, each at most the cap). While the server itself stops reading the stream
 * (back-pressure: grpc-js pauses the HTTP/2 stream), a message's clock stops; it starts afresh
 * when reading resumes. Without the option, client streams pass unchecked (internal servers).
 */
import * as grpc from '@grpc/grpc-js'
import { constants, type ServerHttp2Stream } from 'node:http2'
import { ERROR_TABLE, LimitExceededError, type PhaseError } from '@phase-network/protocol/errors'
import type { Intake, Upload } from './intake.ts'
import { errorStatus } from './error-code.ts'

export interface IntakeInterceptorInit {
  /** Largest message on a client stream, in bytes. Default: client streams pass unchecked. */
  maxStreamMessageBytes?: number
}

/** gRPC's length-prefixed framing: a flag byte, then the message's length (u32, big-endian). */
const FRAME_HEADER_BYTES = 5

export function intakeInterceptor (intake: Pick<Intake, 'begin'>, init: IntakeInterceptorInit = {}): grpc.ServerInterceptor {
  return (method, call) => {
    if (method.requestStream) {
      return init.maxStreamMessageBytes === undefined ? new grpc.ServerInterceptingCall(call) : streamIntake(intake, init.maxStreamMessageBytes, call)
    }
    let self: grpc.ServerInterceptingCall | undefined
    let ended = false
    const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream
    const upload = intake.begin((err: PhaseError) => {
      if (!ended) refuse(self, stream, err)
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

/**
 * Answers a call with `err` before its request ended, then asks the client to stop sending (RFC
 * 9113 §8.1: RST_STREAM NO_ERROR after a complete response). Otherwise grpc-js keeps decoding the
 * rest into its buffer and HTTP/2 resets the stream with ENHANCE_YOUR_CALM, losing the status.
 */
function refuse (call: grpc.ServerInterceptingCall | undefined, stream: ServerHttp2Stream | undefined, err: PhaseError): void {
  call?.sendStatus(errorStatus(err, ERROR_TABLE[err.code].grpc))
  closeAfterStatus(stream)
}

/** Longest a refused stream waits for its status to go out (a client that reads nothing). */
const STATUS_FLUSH_MS = 1000

/**
 * Closes the HTTP/2 stream of a refused call (RST_STREAM NO_ERROR) so its client stops sending,
 * once the status is out: a trailers-only answer is written at once; after response headers (a
 * stream that answered calls) the trailers wait for the data before them.
 */
function closeAfterStatus (stream: ServerHttp2Stream | undefined): void {
  if (stream === undefined || typeof stream.close !== 'function') return
  const close = (): void => { if (!stream.closed) stream.close(constants.NGHTTP2_NO_ERROR) }
  if (!stream.headersSent) { setImmediate(close); return }
  // grpc-js sends the trailers on 'wantTrailers' (its listener, added by sendStatus, runs first).
  stream.once('wantTrailers', () => setImmediate(close))
  setTimeout(close, STATUS_FLUSH_MS).unref()
}

/** A client stream under the intake: each message an upload, none larger than `maxMessageBytes`. */
function streamIntake (intake: Pick<Intake, 'begin'>, maxMessageBytes: number, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCall {
  const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream
  let self: grpc.ServerInterceptingCall | undefined
  let ended = false
  // The message being received: its uploads (a new one each time reading resumes after a pause).
  let uploads: Upload[] = []
  let current: Upload | undefined
  const header = Buffer.alloc(FRAME_HEADER_BYTES)
  let headerBytes = 0
  let remaining = 0
  const releaseAll = (): void => { for (const u of uploads) u.release(); uploads = []; current = undefined }
  const fail = (err: PhaseError): void => {
    if (ended) return
    ended = true
    releaseAll()
    refuse(self, stream, err)
  }
  /** Counts `bytes` of the message being received; false once the stream is refused. */
  const take = (bytes: number): boolean => {
    if (current === undefined) {
      current = intake.begin(fail)
      uploads.push(current)
    }
    current.arrived(bytes)
    return current.reserve(bytes) && !ended
  }
  const messageDone = (): void => { for (const u of uploads) { u.received(); u.release() } uploads = []; current = undefined }
  if (stream !== undefined && typeof stream.on === 'function') {
    stream.on('data', (chunk: Buffer) => {
      let at = 0
      while (at < chunk.length && !ended) {
        if (remaining === 0) {
          const n = Math.min(FRAME_HEADER_BYTES - headerBytes, chunk.length - at)
          chunk.copy(header, headerBytes, at, at + n)
          headerBytes += n
          at += n
          if (!take(n)) return
          if (headerBytes < FRAME_HEADER_BYTES) continue
          headerBytes = 0
          remaining = header.readUInt32BE(1)
          if (remaining > maxMessageBytes) {
            fail(new LimitExceededError(`a message on this stream declares ${remaining} bytes; stream messages are limited to ${maxMessageBytes} bytes (send larger requests as unary calls)`))
            return
          }
          if (remaining === 0) messageDone()
        } else {
          const n = Math.min(remaining, chunk.length - at)
          at += n
          remaining -= n
          if (!take(n)) return
          if (remaining === 0) messageDone()
        }
      }
    })
    // grpc-js pauses the HTTP/2 stream while the handler does not read (back-pressure): the
    // client is not slow then. The message's clock stops, and a new one starts on resuming.
    stream.on('pause', () => { current?.received(); current = undefined })
    stream.once('close', () => { ended = true; releaseAll() })
  }
  self = new grpc.ServerInterceptingCall(call, {
    start: (next) => { next({ onCancel: () => { ended = true; releaseAll() } }) },
    sendStatus: (status, next) => { ended = true; releaseAll(); next(status) }
  })
  return self
}
