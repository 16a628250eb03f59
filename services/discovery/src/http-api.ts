/**
 * JSON over HTTP for curl and the PHP SDK, on localhost by default. Same job path as gRPC;
 * every error is a JSON body `{ "error": { "code", "message" } }` with a 4xx/5xx status from
 * the one error table. Bodies are capped before they are buffered, and count against the node's
 * Intake (global budget, minimum rate, deadline). TCP is optional (the unix socket's file
 * permissions are the only access control a token-less node has); on TCP the Host header must
 * name this machine or the bind address.
 */
import { createRequire } from 'node:module'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { checkToken } from './auth.ts'
import { nodeInfoJson, prepareSocket } from '@phase-network/rpc'
import { ERROR_TABLE, HashMismatchError, InputTooLargeError, InvalidArgumentError, InvalidJsonError, InvalidManifestError, NotFoundError, PhaseError, toPublicError } from '@phase-network/protocol'
import { DEFAULT_MAX_INPUT_FILE_BYTES } from '@phase-network/process'
import { contentHash } from '@phase-network/protocol/node'
import type { InputStore } from './module-store.ts'
import type { InputBlob } from './input-files.ts'
import { Intake } from '@phase-network/rpc'
import { decodeBody, hostCheck, readBody, requestPath } from './http-guard.ts'
import { expectationFailed, markAnswered, refuseClient, refuseConnect } from './http-refusals.ts'
import { openApiDocument } from './openapi.ts'
import type { Duplex } from 'node:stream'
import type { Logger } from '@phase-network/process'
import { jobOutcomeJson } from '@phase-network/protocol/node'
import { canonicalize } from '@phase-network/protocol'
import type { JobRouter, RoutedRequest } from './router.ts'
import type { NodeInfo } from './compose/node-info.ts'
import type { FoundExecutor, PeerSummary, Requirements } from './p2p/index.ts'
import { peersJson } from './peers-json.ts'
import { FIND_DEFAULT_LIMIT, FIND_MAX_LIMIT } from './node-service.ts'

// Required, not imported: an ESM import of node:http builds its whole namespace, and its lazy
// getters (WebSocket, MessageEvent, ...) load undici, ~70 internal modules and ~60 ms of CPU at
// every discovery start (issue 11: start-up ≤ 2 s); test/ops/startup-imports.test.ts.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http')

export interface HttpApiComponents {
  jobs: Pick<JobRouter, 'run'>
  modules: { has: (hash: string) => boolean }
  /** Input files by hash (GET and PUT /v1/blobs/<hash>). Default: none, and uploads are refused. */
  inputs?: Pick<InputStore, 'has' | 'put'>
  info: () => Promise<NodeInfo>
  /** GET /v1/status: what `phase node status` shows, as JSON. */
  status?: () => Promise<unknown>
  /** GET /metrics: Prometheus text exposition. */
  metrics?: () => Promise<{ contentType: string, body: string }>
  /** GET /v1/executors: FindExecutors (nodes found through the DHT whose signed record meets the query). */
  findExecutors?: (req: Requirements, options: { limit: number, signal: AbortSignal }) => Promise<FoundExecutor[]>
  /** GET /v1/peers: the connected peers with their reputation (as `phase peers --json`). */
  peers?: () => Promise<PeerSummary[]>
  /** GET /v1/doctor: what `phase doctor` prints (doctor.ts), as JSON. */
  doctor?: (options: { signal: AbortSignal }) => Promise<unknown>
  logger: Logger
}

/** A non-JSON 200 answer (Prometheus text). */
class TextBody {
  readonly contentType: string
  readonly body: string
  constructor (contentType: string, body: string) { this.contentType = contentType; this.body = body }
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_CONNECTIONS = 1024

export interface HttpApiInit {
  host: string
  port: number
  /** Listen on host:port. Default: true. False: the unix socket only. */
  tcp?: boolean
  /** Also serve on this unix socket path. */
  socket?: string
  token: string | null
  /** Largest request body in bytes (module as base64 plus manifest). */
  maxBodyBytes: number
  /** Global budget, minimum rate and deadline of request bodies. Default: a private Intake with its defaults. */
  intake?: Pick<Intake, 'begin'>
  /** Host names served besides loopback and `host` (e.g. the node's public DNS name). Default: none. */
  allowedHosts?: readonly string[]
  /** Time a client has to send its request headers. Default: 10 s. */
  headersTimeoutMs?: number
  /** Time a client has to send its whole request. Default: 60 s. */
  requestTimeoutMs?: number
  /** Most open connections per listener. Default: 1024. */
  maxConnections?: number
  /** Largest input file PUT /v1/blobs/<hash> takes. Default: 64 MiB (limits.max_input_file_bytes). */
  maxInputFileBytes?: number
  /** Longest a connection answered before its body arrived stays open to drop the rest. Default: 30 s. */
  lingerMs?: number
}

/** 405: the path is a route, the method is not one of its `allow`. */
class MethodNotAllowedError extends PhaseError {
  override readonly name: string = 'MethodNotAllowedError'
  readonly allow: readonly string[]
  constructor (allow: readonly string[]) { super('not_found', 'method not allowed'); this.allow = allow }
}

/** One route of the API: its OpenAPI path template, how a request path matches it, its methods. */
export interface HttpRoute {
  /** OpenAPI path template (`/v1/modules/{hash}`). */
  path: string
  /** Matches the raw request path; group 1 is the `{hash}` parameter's 64 hex digits. */
  match: RegExp
  methods: readonly string[]
  /** Answered without the API token. */
  open?: true
  /** Served only when the node has this component. */
  needs?: 'status' | 'metrics' | 'findExecutors' | 'peers' | 'doctor'
}

// The hash's colon may come percent-encoded (PHP's rawurlencode, curl users): both name it.
const HASH = '(?:sha256(?::|%3[Aa])([0-9a-f]{64}))'

/**
 * Every route the API answers, in one table: route() dispatches on it and openapi.ts describes
 * exactly these (test/discovery/openapi.test.ts holds the two equal). Paths match exactly.
 */
export const HTTP_ROUTES: readonly HttpRoute[] = Object.freeze([
  { path: '/healthz', match: /^\/healthz$/, methods: ['GET'], open: true },
  { path: '/v1/openapi.json', match: /^\/v1\/openapi\.json$/, methods: ['GET'], open: true },
  { path: '/v1/jobs', match: /^\/v1\/jobs$/, methods: ['POST'] },
  { path: '/v1/modules/{hash}', match: new RegExp(`^/v1/modules/${HASH}$`), methods: ['GET'] },
  { path: '/v1/blobs/{hash}', match: new RegExp(`^/v1/blobs/${HASH}$`), methods: ['GET', 'PUT'] },
  { path: '/v1/node', match: /^\/v1\/node$/, methods: ['GET'] },
  { path: '/v1/status', match: /^\/v1\/status$/, methods: ['GET'], needs: 'status' },
  { path: '/v1/executors', match: /^\/v1\/executors$/, methods: ['GET'], needs: 'findExecutors' },
  { path: '/v1/peers', match: /^\/v1\/peers$/, methods: ['GET'], needs: 'peers' },
  { path: '/v1/doctor', match: /^\/v1\/doctor$/, methods: ['GET'], needs: 'doctor' },
  { path: '/metrics', match: /^\/metrics$/, methods: ['GET'], needs: 'metrics' }
])

export class HttpApi {
  private readonly server: Server
  /** The same API on a unix socket (PHP's curl and local tools; file permissions guard it). */
  private readonly local: Server | undefined
  private readonly c: HttpApiComponents
  private readonly init: HttpApiInit
  private readonly intake: Pick<Intake, 'begin'>
  private readonly ownIntake: Intake | undefined
  private checkHost: (host: string | undefined) => void = () => {}
  private address: string | undefined
  /** Connections kept open after an early answer while the rest of their body is dropped. */
  private readonly lingering = new Set<Duplex>()
  private stopping = false

  constructor (components: HttpApiComponents, init: HttpApiInit) {
    this.c = components
    this.init = init
    if (init.intake === undefined) this.ownIntake = new Intake({ timeoutMs: init.requestTimeoutMs })
    this.intake = init.intake ?? this.ownIntake!
    const make = (local: boolean): Server => {
      const server = createServer({
        headersTimeout: init.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
        // The body's own deadline (Intake) answers with a typed 408 first; this one is the backstop.
        requestTimeout: (init.requestTimeoutMs ?? 60_000) + 5_000,
        // Node checks both timeouts only this often (default 30 s: slow headers held 40 s).
        connectionsCheckingInterval: Math.min(1000, init.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS),
        // Node's own refusal of an HTTP/1.1 request without Host has no body: route() refuses it typed.
        requireHostHeader: false
      }, (req, res) => { this.handle(req, res, local) })
      server.maxConnections = init.maxConnections ?? DEFAULT_MAX_CONNECTIONS
      // What Node would answer itself (bare 400/408/413/431/417, or nothing to CONNECT) gets the
      // API's typed JSON error instead.
      server.on('clientError', refuseClient)
      server.on('connect', (_req: IncomingMessage, socket: Duplex) => { refuseConnect(socket) })
      server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
        const err = expectationFailed(req.headers.expect)
        res.setHeader('connection', 'close')
        send(res, ERROR_TABLE[err.code].http, { error: { code: err.code, message: err.message } })
      })
      return server
    }
    this.server = make(false)
    this.local = init.socket === undefined ? undefined : make(true)
  }

  /** Listens; returns `host:port` with the real port (`unix:<path>` when TCP is off). */
  async start (): Promise<string> {
    if (this.address !== undefined) return this.address
    const tcp = this.init.tcp ?? true
    if (tcp) await listen(this.server, (cb) => this.server.listen(this.init.port, this.init.host, cb))
    if (this.local !== undefined && this.init.socket !== undefined) {
      const path = this.init.socket
      await prepareSocket(`unix:${path}`)
      await listen(this.local, (cb) => this.local!.listen(path, cb))
      this.c.logger.info({ socket: path }, 'http api listening on unix socket')
    }
    if (!tcp) {
      this.address = `unix:${this.init.socket ?? ''}`
      return this.address
    }
    const a = this.server.address()
    const port = typeof a === 'object' && a !== null ? a.port : this.init.port
    this.checkHost = hostCheck({ bindHost: this.init.host, port, allowedHosts: this.init.allowedHosts })
    this.address = `${this.init.host.includes(':') ? `[${this.init.host}]` : this.init.host}:${port}`
    this.c.logger.info({ address: this.address }, 'http api listening')
    return this.address
  }

  async stop (): Promise<void> {
    this.ownIntake?.close()
    this.stopping = true
    for (const socket of this.lingering) socket.destroy()
    await Promise.all([this.server, this.local].map(async (server) => {
      if (server === undefined || !server.listening) return
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
    }))
  }

  private handle (req: IncomingMessage, res: ServerResponse, local: boolean): void {
    const controller = new AbortController()
    res.on('close', () => { if (!res.writableFinished) controller.abort() })
    this.route(req, res, local, controller.signal).then(
      (body) => {
        if (!(body instanceof TextBody)) { send(res, 200, body); return }
        if (res.headersSent || res.destroyed) return
        res.writeHead(200, { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.body) })
        res.end(body.body)
        writeDeadline(res)
      },
      (err: unknown) => {
        const pub = toPublicError(err)
        if (pub !== err) this.c.logger.error({ err }, 'unexpected error in http api')
        // A client that leaves or stalls is an ordinary event: one line, no stack.
        else if (pub.code === 'cancelled' || pub.code === 'request_timeout') this.c.logger.debug({ code: pub.code, method: req.method }, pub.message)
        const status = err instanceof MethodNotAllowedError ? 405 : ERROR_TABLE[pub.code].http
        // RFC 9110 §15.5.6: a 405 names the methods the route takes.
        if (err instanceof MethodNotAllowedError && !res.headersSent) res.setHeader('allow', err.allow.join(', '))
        this.answerLingering(req, res, () => { send(res, status, { error: { code: pub.code, message: pub.message } }) })
      }
    )
  }

  /**
   * An error answered while the request's body is still arriving (over the budget or the cap,
   * refused before it was read): Node closes a `Connection: close` socket as soon as the answer is
   * written, the unread body makes the kernel reset it, and the client, still sending, gets EPIPE
   * or ECONNRESET, often before it has read its answer (the reset can drop it from the client's
   * receive buffer). As nginx's lingering close does, the answer says `connection: close` and the
   * socket stays open while the rest of the body is read and dropped (no memory), then ends once
   * both the body has arrived and the answer (and any answer queued before it) is written: within
   * `lingerMs` (30 s) at most, sooner when the client stalls (Node's keep-alive timeout) or the node
   * stops. Keep-alive clients are closed the same way rather than drained for Node's whole
   * request timeout. A client cut off on purpose (too slow: `connection: close` set) is not kept.
   * `answer` writes the answer; any other one is written as it is.
   */
  private answerLingering (req: IncomingMessage, res: ServerResponse, answer: () => void): void {
    if (this.stopping || req.complete || res.headersSent || res.destroyed || res.hasHeader('connection')) { answer(); return }
    const socket = req.socket
    // A parse error or Node's request timeout in the dropped rest gets no second answer.
    markAnswered(socket)
    res.setHeader('connection', 'close')
    req.resume()
    this.lingering.add(socket)
    let bodyEnded = false
    let answered = false
    const end = (): void => { if (bodyEnded && answered) socket.end() }
    req.once('end', () => { bodyEnded = true; end() })
    res.once('finish', () => { answered = true; end() })
    const timer = setTimeout(() => socket.destroy(), this.init.lingerMs ?? BODY_LINGER_MS).unref()
    socket.once('close', () => {
      clearTimeout(timer)
      this.lingering.delete(socket)
    })
    answer()
    holdSocket(res)
  }

  private async route (req: IncomingMessage, res: ServerResponse, local: boolean, signal: AbortSignal): Promise<unknown> {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused with 400, on either listener.
    if (req.httpVersion === '1.1' && req.headers.host === undefined) throw new InvalidArgumentError('an HTTP/1.1 request needs a Host header')
    // A unix socket cannot be reached by a rebinding page; TCP must name this machine.
    if (!local) this.checkHost(req.headers.host)
    // The raw path: `new URL('//', base)` throws (a 500 before auth); routes match exact strings.
    const pathname = requestPath(req.url)
    let param: string | undefined
    const found = HTTP_ROUTES.find((r) => {
      if (r.needs !== undefined && this.c[r.needs] === undefined) return false
      const m = r.match.exec(pathname)
      param = m?.[1]
      return m !== null
    })
    if (found === undefined) {
      this.authorize(req)
      throw new NotFoundError(`no such endpoint: ${req.method ?? ''} ${pathname.slice(0, 100)}`)
    }
    if (found.open !== true) this.authorize(req)
    const method = req.method ?? ''
    if (!found.methods.includes(method)) throw new MethodNotAllowedError(found.methods)
    switch (`${method} ${found.path}`) {
      case 'GET /healthz': return { status: 'ok' }
      case 'GET /v1/openapi.json': return openApiDocument()
      case 'POST /v1/jobs': return await this.submit(req, res, signal)
      case 'GET /v1/modules/{hash}': {
        const hash = `sha256:${param!}`
        return { module_hash: hash, cached: this.c.modules.has(hash) }
      }
      case 'GET /v1/blobs/{hash}': {
        const hash = `sha256:${param!}`
        return { hash, cached: this.c.inputs?.has(hash) === true }
      }
      case 'PUT /v1/blobs/{hash}': return await this.upload(req, res, `sha256:${param!}`)
      case 'GET /v1/status': return await this.c.status!()
      case 'GET /v1/executors': return await this.executors(req, signal)
      case 'GET /v1/peers': return peersJson(await this.c.peers!())
      // The client going away ends the lookups inside (bootstrap dials, time questions).
      case 'GET /v1/doctor': return await this.c.doctor!({ signal })
      case 'GET /metrics': {
        const { contentType, body } = await this.c.metrics!()
        return new TextBody(contentType, body)
      }
      // The same JSON as `phase node info`: snake_case counters (they were camelCase here).
      case 'GET /v1/node': return nodeInfoJson(await this.c.info())
    }
    throw new NotFoundError(`no such endpoint: ${method} ${pathname.slice(0, 100)}`)
  }

  /**
   * PUT /v1/blobs/<hash>: one input file's raw bytes (any content type), for files too big to
   * travel well as base64 in a job's JSON. Capped at the per-file cap before it is buffered,
   * counted against the Intake, hashed, and cached only when it hashes to the path's hash.
   */
  private async upload (req: IncomingMessage, res: ServerResponse, hash: string): Promise<unknown> {
    const store = this.c.inputs
    if (store === undefined) throw new NotFoundError('this node does not cache input files')
    const max = this.init.maxInputFileBytes ?? DEFAULT_MAX_INPUT_FILE_BYTES
    const { body, release } = await readBody(req, res, {
      max,
      intake: this.intake,
      tooLarge: (message) => new InputTooLargeError(`input file: ${message} (limits.max_input_file_bytes)`)
    })
    try {
      const actual = contentHash(body)
      if (actual !== hash) throw new HashMismatchError(`the bytes sent hash to ${actual}, not ${hash}`)
      await store.put(hash, body)
      return { hash, bytes: body.byteLength, cached: store.has(hash) }
    } finally {
      release()
    }
  }

  /** GET /v1/executors?runtime=&arch=&min_memory_mb=&min_cores=&limit= — the same fields as gRPC FindExecutors, snake_case. */
  private async executors (req: IncomingMessage, signal: AbortSignal): Promise<unknown> {
    const target = req.url ?? ''
    const q = target.indexOf('?')
    const end = target.indexOf('#', q)
    const query = executorQuery(new URLSearchParams(q === -1 ? '' : target.slice(q + 1, end === -1 ? undefined : end)))
    const started = performance.now()
    const found = await this.c.findExecutors!(query.requirements, { limit: query.limit, signal })
    return {
      executors: found.map(({ peerId, record }) => ({
        peer_id: peerId,
        receipt_public_key: record.receipt_public_key,
        runtimes: record.runtimes.map((r) => `${r.name}@${r.version}`),
        arch: record.arch,
        cores: record.cores,
        max_memory_mb: record.limits.max_memory_mb,
        queue_depth: record.queue_depth
      })),
      lookup_ms: Math.round((performance.now() - started) * 10) / 10
    }
  }

  private authorize (req: IncomingMessage): void {
    checkToken(req.headers.authorization, this.init.token)
  }

  private async submit (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<unknown> {
    const type = req.headers['content-type'] ?? ''
    if (!type.startsWith('application/json')) throw new InvalidJsonError('content-type must be application/json')
    // Parsed in a function of its own: the body's text and the module's base64 (each as large as
    // the body) are garbage once it returns, while the job runs with the bytes alone.
    const { body, release } = await readBody(req, res, { max: this.init.maxBodyBytes, intake: this.intake })
    let result: Awaited<ReturnType<HttpApiComponents['jobs']['run']>>
    try {
      result = await this.c.jobs.run(parseJobBody(body), { signal })
    } finally {
      release()
    }
    return {
      ...jobOutcomeJson(result),
      manifest: result.manifest,
      peer_id: result.peerId,
      capability: result.capability ?? null,
      // Canonical JSON (RFC 8785) of the record: verifiers that must not re-encode JSON remove the
      // signature member from this text and check the signature on what remains.
      capability_json: result.capability === undefined ? null : canonicalize(result.capability),
      ...(result.replicas !== undefined
        ? {
            agreeing: result.agreeing,
            replicas: result.replicas.map((r) => ({
              peer_id: r.peerId, status: r.status, exit_code: r.exitCode, stdout_hash: r.stdoutHash, stderr_hash: r.stderrHash,
              receipt_json: Buffer.from(r.receiptJson).toString('utf8'), error_code: r.errorCode, error_message: r.errorMessage,
              capability_json: r.capability === undefined ? null : canonicalize(r.capability)
            }))
          }
        : {}),
      // The receipt as an object for convenience, and as the exact signed bytes for verifiers
      // that must not re-encode JSON (the PHP SDK).
      receipt: JSON.parse(Buffer.from(result.receiptJson).toString('utf8')),
      receipt_json: Buffer.from(result.receiptJson).toString('utf8')
    }
  }
}

/** The JSON body of POST /v1/jobs → a routed job request (module bytes decoded). */
function parseJobBody (body: Buffer): RoutedRequest {
  let doc: unknown
  try { doc = JSON.parse(decodeBody(body)) } catch (err) { throw err instanceof PhaseError ? err : new InvalidJsonError() }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InvalidJsonError('body must be a JSON object')
  const { manifest, module, target, peer_id: peerId, replicas, inputs, ...rest } = doc as Record<string, unknown>
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new InvalidManifestError(`unknown field in request: '${unknown[0]!.slice(0, 60)}' (expected manifest, module, inputs, target, peer_id, replicas)`)
  if ((target !== undefined && typeof target !== 'string') || (peerId !== undefined && typeof peerId !== 'string')) throw new InvalidManifestError('target and peer_id must be strings')
  if (replicas !== undefined && (!Number.isInteger(replicas) || (replicas as number) < 0)) throw new InvalidManifestError('replicas must be a non-negative integer')
  if (manifest === undefined) throw new InvalidManifestError('request needs a manifest')
  if (module !== undefined && (typeof module !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(module))) {
    throw new InvalidManifestError('module must be standard base64')
  }
  return { manifest, module: module === undefined ? undefined : Buffer.from(module, 'base64'), inputs: parseInputBlobs(inputs), target, peerId, replicas: replicas as number | undefined }
}

/** Most input blobs one request may carry: a manifest's most input files. */
const MAX_INPUT_BLOBS = 256

/** `inputs: [{ "hash": "sha256:<hex>", "data": "<base64>" }]` of a job request → the bytes. */
function parseInputBlobs (inputs: unknown): InputBlob[] | undefined {
  if (inputs === undefined) return undefined
  if (!Array.isArray(inputs) || inputs.length > MAX_INPUT_BLOBS) throw new InvalidArgumentError(`inputs must be an array of at most ${MAX_INPUT_BLOBS} { hash, data } objects`)
  return inputs.map((blob: unknown, i) => {
    const { hash, data, ...extra } = (typeof blob === 'object' && blob !== null ? blob : {}) as Record<string, unknown>
    if (typeof hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(hash)) throw new InvalidArgumentError(`inputs[${i}].hash must be sha256:<64 hex>`)
    if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw new InvalidArgumentError(`inputs[${i}].data must be standard base64`)
    if (Object.keys(extra).length > 0) throw new InvalidArgumentError(`inputs[${i}] has an unknown field '${Object.keys(extra)[0]!.slice(0, 60)}' (expected hash, data)`)
    return { hash, data: Buffer.from(data, 'base64') }
  })
}

async function listen (server: Server, start: (cb: () => void) => void): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    start(() => { server.off('error', reject); resolve() })
  })
}

/** Longest a connection answered early stays open to drop the rest of its body (nginx's lingering_time). */
const BODY_LINGER_MS = 30_000

/**
 * Keeps the socket of an answer written with `connection: close` open: Node's server ends it as
 * soon as such an answer is written (its resOnFinish reads `_last`, set from that header). The
 * caller ends it (answerLingering). test/discovery/http-api.test.ts fails if a Node stops honouring it.
 */
function holdSocket (res: ServerResponse): void {
  (res as unknown as { _last: boolean })._last = false
}

/** Time a client has to read an answer once it is written (one that never reads holds its socket). */
const WRITE_TIMEOUT_MS = 60_000

function send (res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
  writeDeadline(res)
}

function writeDeadline (res: ServerResponse): void {
  if (res.writableFinished) return
  const timer = setTimeout(() => res.destroy(), WRITE_TIMEOUT_MS).unref()
  res.once('close', () => clearTimeout(timer))
}
/** Query parameters of GET /v1/executors: all optional, each at most once, nothing else. */
const EXECUTOR_QUERY = new Set(['runtime', 'arch', 'min_memory_mb', 'min_cores', 'limit'])

/** Parses GET /v1/executors' query; a bad one is an InvalidArgumentError (400) naming the parameter. */
export function executorQuery (params: URLSearchParams): { requirements: Requirements, limit: number } {
  for (const key of params.keys()) {
    if (!EXECUTOR_QUERY.has(key)) throw new InvalidArgumentError(`unknown query parameter '${key.slice(0, 40)}' (runtime, arch, min_memory_mb, min_cores, limit)`)
    if (params.getAll(key).length > 1) throw new InvalidArgumentError(`query parameter '${key}' given more than once`)
  }
  const text = (key: string): string | undefined => {
    const v = params.get(key) ?? undefined
    if (v !== undefined && (v.length > 64 || !/^[A-Za-z0-9._-]*$/.test(v))) throw new InvalidArgumentError(`${key}: at most 64 of [A-Za-z0-9._-]`)
    return v === '' ? undefined : v
  }
  const count = (key: string, min: number, max: number): number | undefined => {
    const v = params.get(key)
    if (v === null || v === '') return undefined
    if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`${key}: an integer from ${min} to ${max}, not '${v.slice(0, 20)}'`)
    return Number(v)
  }
  const requirements: Requirements = {}
  const runtime = text('runtime'); if (runtime !== undefined) requirements.runtime = runtime
  const arch = text('arch'); if (arch !== undefined) requirements.arch = arch
  const mem = count('min_memory_mb', 0, 4_294_967_295); if (mem !== undefined) requirements.min_memory_mb = mem
  const cores = count('min_cores', 0, 4_294_967_295); if (cores !== undefined) requirements.min_cores = cores
  return { requirements, limit: count('limit', 1, FIND_MAX_LIMIT) ?? FIND_DEFAULT_LIMIT }
}
