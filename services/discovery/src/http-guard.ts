/**
 * What the HTTP face checks before it trusts a request: the Host header (a web page the user
 * opened can point a DNS name at 127.0.0.1 and then talk to this port as its own origin — DNS
 * rebinding — so only this machine's names and the configured bind address are answered), the
 * request path (raw, never resolved against a base URL), and the body: capped, counted against
 * the node's Intake budget, decoded as strict UTF-8, and told apart from a client that left.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { CancelledError, HostNotAllowedError, InvalidJsonError, ModuleTooLargeError, type PhaseError } from '@phase-network/protocol'
import type { Intake } from '@phase-network/rpc'

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1'])
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]'])

export interface HostCheckInit {
  /** The address the TCP listener is bound to (from the config). */
  bindHost: string
  /** The port it really listens on. */
  port: number
  /** More names an operator serves the API under (a public DNS name). */
  allowedHosts?: readonly string[]
}

/** Strips brackets and a trailing dot, lowercases. */
function normalizeName (name: string): string {
  let n = name.toLowerCase()
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1)
  if (n.endsWith('.')) n = n.slice(0, -1)
  return n
}

/**
 * Returns a check that throws HostNotAllowedError unless `host` (the header) names a loopback
 * address, the bind address or an allowed name, with the listening port. A wildcard bind with
 * no allowed names accepts any name: config then requires a token, which a rebinding page lacks.
 */
export function hostCheck (init: HostCheckInit): (host: string | undefined) => void {
  const names = new Set([...LOOPBACK_NAMES, ...(init.allowedHosts ?? []).map(normalizeName)])
  const bind = normalizeName(init.bindHost)
  const anyName = WILDCARDS.has(init.bindHost) && (init.allowedHosts ?? []).length === 0
  if (!WILDCARDS.has(init.bindHost)) names.add(bind)
  return (header) => {
    // HTTP/1.0 without Host: no browser sends that, so no page can rebind it.
    if (header === undefined) return
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::([0-9]{1,5}))?$/.exec(header)
    const refuse = (): never => { throw new HostNotAllowedError('this node does not serve that Host name (use localhost, 127.0.0.1 or [::1])') }
    if (m === null) return refuse()
    const port = m[2] === undefined ? 80 : Number(m[2])
    if (port !== init.port) return refuse()
    if (anyName) return
    const name = normalizeName(m[1]!)
    if (!names.has(name) && !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) refuse()
  }
}

/** The path of a request target, without query or fragment, exactly as sent (never resolved). */
export function requestPath (target: string | undefined): string {
  const raw = target ?? '/'
  const end = raw.search(/[?#]/)
  return end === -1 ? raw : raw.slice(0, end)
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** Body bytes as text; invalid UTF-8 is refused (as gRPC refuses it), never replaced with U+FFFD. */
export function decodeBody (body: Uint8Array): string {
  try {
    return strictUtf8.decode(body)
  } catch {
    throw new InvalidJsonError('body is not valid UTF-8')
  }
}

export interface ReadBodyInit {
  /** Largest body accepted. */
  max: number
  intake: Pick<Intake, 'begin'>
  /** The error for a body over `max`. Default: ModuleTooLargeError. */
  tooLarge?: (message: string) => PhaseError
}

/**
 * Reads a request body under the Intake: the declared length (or each chunk) is reserved in the
 * global budget and stays reserved until the response closes; a body too slow or too long, over
 * the cap or over the budget ends with a typed error, and the connection is closed after the
 * answer when it was too slow. A client that leaves mid-body gives CancelledError. The caller
 * calls `release` once it no longer holds the body (a client that never reads its answer must
 * not keep the budget); the response's close releases it too.
 */
export async function readBody (req: IncomingMessage, res: ServerResponse, init: ReadBodyInit): Promise<{ body: Buffer, release: () => void }> {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
  const tooLarge = init.tooLarge ?? ((message: string) => new ModuleTooLargeError(message))
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (err: PhaseError | undefined, body?: Buffer): void => {
      if (done) return
      done = true
      req.off('data', onData)
      if (err === undefined) { upload.received(); resolve({ body: body!, release: upload.release }); return }
      upload.release()
      chunks.length = 0
      if (err.code === 'request_timeout') {
        // A client this slow gets its answer, then the connection closes: its rest is never read.
        res.setHeader('connection', 'close')
      } else if (err.code !== 'cancelled') {
        // Over the cap or the budget: the rest is read and dropped (no memory, still under
        // Node's request timeout) so the client, still sending, can read its 413/503.
        req.resume()
      }
      reject(err)
    }
    const upload = init.intake.begin((err) => finish(err))
    res.once('close', () => upload.release())
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      upload.arrived(chunk.length)
      if (size > init.max) { finish(tooLarge(`request body is over ${init.max} bytes`)); return }
      if (declared === undefined && !upload.reserve(chunk.length)) return
      chunks.push(chunk)
    }
    if (declared !== undefined) {
      if (declared > init.max) { finish(tooLarge(`request body is ${declared} bytes, this node accepts at most ${init.max}`)); return }
      if (!upload.reserve(declared)) return
    }
    req.on('data', onData)
    req.once('end', () => {
      const body = Buffer.concat(chunks, size)
      chunks.length = 0
      finish(undefined, body)
    })
    // 'close' before 'end' (or a reset): the client went away mid-body. Ordinary, not an error.
    req.once('close', () => finish(new CancelledError('client closed the connection during the request body')))
    req.once('error', () => finish(new CancelledError('client connection failed during the request body')))
  })
}
