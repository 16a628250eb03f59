/**
 * A gRPC server on a real socket (unix or TCP) with grpc.health.v1, optional server reflection,
 * one error mapping, deadlines and cancellation as AbortSignals, and an explicit lifecycle:
 * stop() = health NOT_SERVING → graceful shutdown with a timer → forced shutdown.
 */
import * as grpc from '@grpc/grpc-js'
import { createServer as createNetServer, type Server as NetServer, type ListenOptions, type Socket } from 'node:net'
import { toBinary, type DescFile, type DescMethod, type DescService } from '@bufbuild/protobuf'
import { CancelledError, ERROR_TABLE, PhaseError, toPublicError } from '@phase-network/protocol/errors'
import { RateLog } from '@phase-network/protocol/rate-log'
import type { Logger } from './logger.ts'
import { toGrpcDefinition } from './definition.ts'
import { prepareSocket } from './socket.ts'
import { multiplexedUnary, muxHandler } from './mux.ts'
import type { HandlerContext } from './types.ts'
import type { Intake } from './intake.ts'
import { intakeInterceptor } from './intake-interceptor.ts'
import { guardService } from './undecodable.ts'
import { errorCodeInterceptor, errorStatus } from './error-code.ts'
import { HealthService } from './health.ts'

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000

export interface GrpcServerInit {
  /** Largest message accepted or sent, in bytes. Default: 64 MiB. */
  maxMessageBytes?: number
  /** How long stop() waits for in-flight calls before forcing. Default: 5000 ms. */
  shutdownGraceMs?: number
  /** Serve gRPC server reflection for these services. Default: false. */
  reflection?: boolean
  /**
   * Budget, minimum rate and deadline for receiving each single-message request (see intake.ts).
   * Default: none (internal servers, whose only clients are the node's own processes).
   */
  intake?: Pick<Intake, 'begin'>
  /**
   * Largest message on a client stream (a multiplexed `<Method>Stream`, reflection), checked by
   * the intake before it is buffered (intake-interceptor.ts). Default: unchecked (internal servers).
   */
  maxStreamMessageBytes?: number
  /**
   * Calls one multiplexed stream may have in flight; past it the stream is not read until one
   * ends (mux.ts). Default: unlimited (internal servers, whose callers bound their own calls).
   */
  maxStreamCalls?: number
  /**
   * End a multiplexed stream with no call in flight for this long (status OK; the client reopens
   * it): an open stream keeps its connection from idling out (mux.ts). Default: never (internal servers).
   */
  streamIdleMs?: number
  /** Close a connection with no call for this long. Default: never. */
  idleConnectionMs?: number
  /** Ping an idle connection this often and drop it when the ping is not answered. Default: grpc-js's (2 h). */
  keepaliveMs?: number
  /** Most concurrent calls on one connection. Default: grpc-js's (unlimited). */
  maxConcurrentStreams?: number
  /**
   * Most open connections; one more is closed as soon as it is accepted (the client sees
   * UNAVAILABLE), and counted in `droppedConnections`. Default: unlimited (internal servers,
   * whose only clients are the node's own processes).
   */
  maxConnections?: number
  /**
   * With maxConnections: a connection whose client has not sent the HTTP/2 preface and a frame
   * header (33 bytes) this long after it was accepted is closed. Default: never.
   */
  handshakeMs?: number
  /**
   * With maxConnections: a connection its client has sent nothing on for this long is closed.
   * Must exceed keepaliveMs: a live client answers the server's keepalive pings even while it
   * only waits for an answer. Default: never.
   */
  silentMs?: number
}

/**
 * How often at most refusals and closings are logged (a flood must not flood the log too).
 * grpc-js's own idle close is graceful (GOAWAY, then a wait for the client): a client that never
 * reads kept its socket open on the server after it (measured: still open after 30 s with a
 * 500 ms idle limit), and so did one that sent only the HTTP/2 preface.
 * handshakeMs and silentMs close such sockets from outside, by the bytes the kernel saw arrive.
 */
const REFUSAL_LOG_EVERY_MS = 10_000
/** The HTTP/2 client preface (24 bytes) and the header of the SETTINGS frame that must follow (9). */
const HANDSHAKE_BYTES = 33

interface Watched { accepted: number, read: number, progress: number }

export interface GrpcServerComponents {
  logger: Logger
}

export interface ServiceRegistration {
  service: DescService
  // Handlers are typed by ServiceImpl<S> at the call site; here they are looked up by name.
  impl: object
}

export class GrpcServer {
  private readonly server: grpc.Server
  private readonly health: HealthService
  private readonly log: Logger
  private readonly graceMs: number
  private readonly maxStreamCalls: number
  private readonly streamIdleMs: number
  private readonly reflection: boolean
  private readonly maxConnections: number | undefined
  /** The listener of a server with maxConnections: it accepts, grpc-js serves what it hands over. */
  private listener: NetServer | undefined
  private readonly handshakeMs: number
  private readonly silentMs: number
  private readonly watched = new Map<Socket, Watched>()
  private sweeper: NodeJS.Timeout | undefined
  /** Refused at accept (past maxConnections), closed without a handshake, closed silent: counted, logged at most every REFUSAL_LOG_EVERY_MS. */
  private readonly refusals: RateLog
  /** An accept that fails (out of descriptors) fails again at once: a line per period. */
  private readonly listenerErrors: RateLog
  private readonly services: DescService[] = []
  private readonly shutdown = new AbortController()
  private address: string | undefined
  private stopping: Promise<void> | undefined

  constructor (components: GrpcServerComponents, init: GrpcServerInit = {}) {
    const maxBytes = init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
      ...(init.idleConnectionMs !== undefined ? { 'grpc.max_connection_idle_ms': init.idleConnectionMs } : {}),
      ...(init.keepaliveMs !== undefined ? { 'grpc.keepalive_time_ms': init.keepaliveMs, 'grpc.keepalive_timeout_ms': Math.min(20_000, init.keepaliveMs) } : {}),
      ...(init.maxConcurrentStreams !== undefined ? { 'grpc.max_concurrent_streams': init.maxConcurrentStreams } : {}),
      // errorCodeInterceptor first: it must wrap grpc-js's base call itself (see error-code.ts).
      interceptors: [errorCodeInterceptor(), ...(init.intake !== undefined ? [intakeInterceptor(init.intake, { maxStreamMessageBytes: init.maxStreamMessageBytes })] : [])]
    })
    this.log = components.logger
    this.graceMs = init.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS
    this.maxStreamCalls = init.maxStreamCalls ?? Infinity
    this.streamIdleMs = init.streamIdleMs ?? Infinity
    this.reflection = init.reflection ?? false
    this.maxConnections = init.maxConnections
    this.handshakeMs = init.handshakeMs ?? Infinity
    this.silentMs = init.silentMs ?? Infinity
    this.refusals = new RateLog({
      everyMs: REFUSAL_LOG_EVERY_MS,
      kinds: ['dropped', 'handshake', 'silent'],
      write: ({ dropped, handshake, silent }) => {
        this.log.warn({ maxConnections: this.maxConnections, handshakeMs: this.handshakeMs, silentMs: this.silentMs, dropped, noHandshake: handshake, silent },
          'grpc connections refused or closed: past the most open connections, no HTTP/2 handshake in time, or nothing received for too long')
      }
    })
    this.listenerErrors = new RateLog({ everyMs: REFUSAL_LOG_EVERY_MS, kinds: ['errors'], write: ({ errors }, detail) => { this.log.error({ ...detail, errors }, 'grpc listener error') } })
    this.health = new HealthService({ '': 'NOT_SERVING' })
    this.health.addToServer(this.guarded)
  }

  /** Registers a service implementation; call before start(). */
  add<S extends DescService> (service: S, impl: object): this {
    const definition = toGrpcDefinition(service)
    const handlers: grpc.UntypedServiceImplementation = {}
    const handlerOf = (method: DescMethod): (req: unknown, ctx: HandlerContext) => Promise<unknown> => {
      const fn = (impl as Record<string, unknown>)[method.localName]
      if (typeof fn !== 'function') throw new Error(`${service.typeName}: no handler for ${method.name}`)
      return fn.bind(impl) as (req: unknown, ctx: HandlerContext) => Promise<unknown>
    }
    for (const method of service.methods) {
      const unary = multiplexedUnary(service, method)
      handlers[method.localName] = unary !== undefined
        ? muxHandler(method, unary, handlerOf(unary), this.shutdown.signal, this.log, this.maxStreamCalls, this.streamIdleMs)
        : this.unary(method, handlerOf(method))
    }
    this.guarded.addService(definition, handlers)
    this.services.push(service)
    return this
  }

  /**
   * Binds and starts serving. `address` is `unix:/path` or `host:port` (port 0 picks one).
   * Returns the bound address (with the real port).
   */
  async start (address: string): Promise<string> {
    if (this.address !== undefined) return this.address
    if (this.reflection) await this.addReflection()
    await prepareSocket(address)
    const port = this.maxConnections === undefined
      ? await new Promise<number>((resolve, reject) => {
        this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => err != null ? reject(err) : resolve(p))
      })
      : await this.listenCapped(address, this.maxConnections)
    this.address = address.startsWith('unix:') ? address : address.replace(/:0$/, `:${port}`)
    this.health.setStatus('', 'SERVING')
    for (const s of this.services) this.health.setStatus(s.typeName, 'SERVING')
    this.log.info({ address: this.address }, 'grpc server listening')
    return this.address
  }

  /** Connections closed at accept because maxConnections were open. */
  get droppedConnections (): number {
    return this.refusals.counts.dropped!
  }

  /** Connections open now (with maxConnections; 0 otherwise). */
  async connectionCount (): Promise<number> {
    const listener = this.listener
    if (listener === undefined) return 0
    return await new Promise((resolve, reject) => { listener.getConnections((err, n) => err != null ? reject(err) : resolve(n)) })
  }

  /** Connections closed by handshakeMs (`handshake`) and silentMs (`silent`). */
  get closedConnections (): { handshake: number, silent: number } {
    return { handshake: this.refusals.counts.handshake!, silent: this.refusals.counts.silent! }
  }

  /**
   * Listens itself (node:net, whose `maxConnections` closes a connection past the cap at accept)
   * and hands each accepted socket to grpc-js (its connection injector: the same HTTP/2 server
   * settings, interceptors and shutdown as a bound port). Returns the port (0 for a unix socket).
   */
  private async listenCapped (address: string, maxConnections: number): Promise<number> {
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure())
    const watch = this.handshakeMs !== Infinity || this.silentMs !== Infinity
    const listener = createNetServer((socket) => {
      if (watch) {
        const now = Date.now()
        this.watched.set(socket, { accepted: now, read: 0, progress: now })
        socket.once('close', () => { this.watched.delete(socket) })
      }
      injector.injectConnection(socket)
    })
    listener.maxConnections = maxConnections
    listener.on('drop', () => { this.refused('dropped') })
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject)
      listener.listen(listenOptions(address), () => { listener.off('error', reject); resolve() })
    })
    listener.on('error', (err) => { this.listenerErrors.note('errors', { err: err.message, code: (err as NodeJS.ErrnoException).code }) })
    this.listener = listener
    if (watch) {
      // One timer for every connection (up to maxConnections sockets looked at, no timer each).
      const every = Math.min(5000, Math.max(50, Math.min(this.handshakeMs, this.silentMs) / 4))
      this.sweeper = setInterval(() => { this.sweep() }, every)
      this.sweeper.unref()
    }
    const bound = listener.address()
    return typeof bound === 'object' && bound !== null ? bound.port : 0
  }

  /** Closes connections that never sent a handshake, or have sent nothing for silentMs. */
  private sweep (): void {
    const now = Date.now()
    for (const [socket, w] of this.watched) {
      const read = socket.bytesRead
      if (read !== w.read) { w.read = read; w.progress = now }
      const reason = read < HANDSHAKE_BYTES && now - w.accepted >= this.handshakeMs
        ? 'handshake'
        : now - w.progress >= this.silentMs ? 'silent' : undefined
      if (reason === undefined) continue
      this.watched.delete(socket)
      socket.destroy()
      this.refused(reason)
    }
  }

  private refused (reason: 'dropped' | 'handshake' | 'silent'): void {
    this.refusals.note(reason)
  }

  /** Stops serving; safe to call twice. In-flight calls get `shutdownGraceMs`, then are cancelled. */
  async stop (): Promise<void> {
    this.stopping ??= this.doStop()
    return this.stopping
  }

  private async doStop (): Promise<void> {
    // No new connections; those open are grpc-js's to drain, as on a bound port.
    this.listener?.close()
    clearInterval(this.sweeper)
    // What was refused since the last line is logged now, not lost with the process.
    this.refusals.close()
    this.listenerErrors.close()
    this.health.setStatus('', 'NOT_SERVING')
    for (const s of this.services) this.health.setStatus(s.typeName, 'NOT_SERVING')
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.shutdown.abort()
        this.server.forceShutdown()
        resolve()
      }, this.graceMs)
      this.server.tryShutdown(() => { clearTimeout(timer); resolve() })
    })
    this.shutdown.abort()
  }

  /** Loaded only by a server that serves reflection (discovery): the others never pay for it. */
  private async addReflection (): Promise<void> {
    const [{ ReflectionService }, { FileDescriptorProtoSchema }] = await loadReflection()
    // Each service's file and, transitively, the files it imports: reflection clients resolve
    // every referenced type.
    const files = new Map<string, DescFile>()
    const visit = (file: DescFile): void => {
      if (files.has(file.name)) return
      files.set(file.name, file)
      for (const dep of file.dependencies) visit(dep)
    }
    for (const s of this.services) visit(s.file)
    const protos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)))
    const pkg: Record<string, { fileDescriptorProtos: Buffer[] }> = {}
    for (const s of this.services) pkg[s.typeName] = { fileDescriptorProtos: protos }
    new ReflectionService(pkg as never).addToServer(this.guarded)
  }

  /** The server as services register on it: requests that do not decode get a typed refusal. */
  private get guarded (): Pick<grpc.Server, 'addService'> {
    return { addService: (definition, impl) => { this.server.addService(...guardService(definition, impl)) } }
  }

  private unary (method: DescMethod, fn: (req: unknown, ctx: HandlerContext) => Promise<unknown>): grpc.handleUnaryCall<unknown, unknown> {
    const name = `${method.parent.typeName}/${method.name}`
    return (call, callback) => {
      // One controller per call, aborted by a client cancel or by shutdown (AbortSignal.any
      // costs ~2% of the node's CPU at full load, so the two sources are wired by hand).
      const controller = new AbortController()
      const onCancel = (): void => controller.abort(new CancelledError('call cancelled'))
      call.on('cancelled', onCancel)
      this.shutdown.signal.addEventListener('abort', onCancel, { once: true })
      const signal = controller.signal
      const metadata = new Map<string, string>()
      for (const [key, value] of Object.entries(call.metadata.getMap())) {
        metadata.set(key, typeof value === 'string' ? value : value.toString('utf8'))
      }
      fn(call.request, { signal, metadata, peer: call.getPeer() }).then(
        (response) => callback(null, response),
        (err: unknown) => {
          // A client that cancels (or a shutdown) ends the handler with whatever its abort
          // raised: an ordinary event, one debug line, not an error of the node.
          const cancelled = signal.aborted && (!(err instanceof PhaseError) || err.code === 'cancelled')
          const pub = cancelled ? new CancelledError('call cancelled') : toPublicError(err)
          if (cancelled) this.log.debug({ method: name, code: pub.code }, 'call cancelled')
          else if (pub !== err) this.log.error({ err, method: name }, 'unexpected error in handler')
          callback(errorStatus(pub, ERROR_TABLE[pub.code].grpc))
        }
      ).catch((err: unknown) => {
        // Answering failed (grpc-js threw while sending): logged, never an unhandled rejection
        // that would end the process.
        this.log.error({ err, method: name }, 'could not answer a call')
      }).finally(() => {
        call.off('cancelled', onCancel)
        this.shutdown.signal.removeEventListener('abort', onCancel)
      })
    }
  }
}

/**
 * The modules a server serving reflection loads when it starts (discovery's public API); also
 * what discovery's compile cache fill loads (fillCompileCacheIfAsked).
 */
export async function loadReflection (): Promise<[typeof import('@grpc/reflection'), typeof import('@bufbuild/protobuf/wkt')]> {
  return await Promise.all([import('@grpc/reflection'), import('@bufbuild/protobuf/wkt')])
}

/** `unix:/path` or `host:port` (`[v6]:port`) as node:net listens on it. */
function listenOptions (address: string): ListenOptions {
  if (address.startsWith('unix:')) return { path: address.slice('unix:'.length) }
  const colon = address.lastIndexOf(':')
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return { host, port: Number(address.slice(colon + 1)) }
}
