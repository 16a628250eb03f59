/**
 * The answers Node's HTTP server would give on its own, typed: a request it cannot parse (bare
 * 400), headers over its limit (431), a body or headers too slow (408), chunk extensions too
 * long (413), an `Expect` it does not know (417) and CONNECT (dropped without a word). Each
 * becomes the API's JSON error `{ "error": { "code", "message" } }` with the status of the one
 * error table, so every client sees a code it can act on, then the connection closes.
 */
import type { Duplex } from 'node:stream'
import { ERROR_TABLE, ExpectationFailedError, HeadersTooLargeError, InvalidArgumentError, ModuleTooLargeError, PhaseError, RequestTimeoutError } from '@phase-network/protocol'

/**
 * How long a refused connection may stay open after its answer: the client reads it and closes
 * (our FIN is sent at once). Closing with its unread bytes still queued would reset the
 * connection, and a reset can discard the answer before the client reads it.
 */
export const LINGER_MS = 2000

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Content Too Large', 417: 'Expectation Failed', 431: 'Request Header Fields Too Large' }

/** A complete HTTP/1.1 response carrying `err` as the API's JSON error, for a raw socket. */
export function rawErrorResponse (err: PhaseError, status = ERROR_TABLE[err.code].http, headers: Record<string, string> = {}): Buffer {
  const body = JSON.stringify({ error: { code: err.code, message: err.message } })
  const head = [`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`, 'content-type: application/json', `content-length: ${Buffer.byteLength(body)}`, 'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1')
}

/** The typed error for a `clientError` of Node's HTTP parser or its timeouts. */
export function clientErrorOf (err: Error & { code?: string }): PhaseError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW': return new HeadersTooLargeError('request headers are over the 16 KiB this node reads')
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return new ModuleTooLargeError('chunk extensions of the request body are too large')
    case 'ERR_HTTP_REQUEST_TIMEOUT': return new RequestTimeoutError('request headers or body did not arrive in time')
    default: return new InvalidArgumentError(`malformed HTTP request${err.code !== undefined ? ` (${err.code.replace(/^HPE_/, '').toLowerCase()})` : ''}`)
  }
}

const refused = new WeakSet<Duplex>()
/** Sockets whose request was answered while its body still arrives (http-api.ts, answerLingering). */
const answered = new WeakSet<Duplex>()

/** The request on `socket` has its answer: a parser error in the rest of its body only closes it. */
export function markAnswered (socket: Duplex): void {
  answered.add(socket)
}

/**
 * Answers a connection Node's parser gave up on, then closes it. Nothing is written when the
 * client already reset the connection or when an answer to an earlier request on it has begun
 * (bytes of ours in the middle would corrupt what the client reads). The parser reports every
 * later chunk of the same connection again: only the first report answers.
 */
export function refuseClient (err: Error & { code?: string }, socket: Duplex): void {
  if (answered.has(socket)) { socket.destroy(); return }
  if (refused.has(socket)) return
  refused.add(socket)
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) { socket.destroy(); return }
  endWith(socket, rawErrorResponse(clientErrorOf(err)))
}

/** CONNECT: this API is no proxy. 405 with the methods it does serve, then the connection closes. */
export function refuseConnect (socket: Duplex): void {
  if (!socket.writable) { socket.destroy(); return }
  endWith(socket, rawErrorResponse(new PhaseError('not_found', 'method not allowed: CONNECT (this API is not a proxy)'), 405, { allow: 'GET, POST' }))
}

/** The typed 417 for an `Expect` other than `100-continue`. */
export function expectationFailed (expect: string | undefined): ExpectationFailedError {
  return new ExpectationFailedError(`cannot meet 'Expect: ${(expect ?? '').slice(0, 60)}' (only 100-continue is understood)`)
}

/** Writes the answer, sends FIN, drops whatever the client still sends, and destroys after LINGER_MS. */
function endWith (socket: Duplex, response: Buffer): void {
  socket.end(response)
  socket.on('error', () => {}) // a reset after our answer is the client's business
  socket.resume()
  const timer = setTimeout(() => socket.destroy(), LINGER_MS)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}
