/**
 * The node's public local API: gRPC (phase.node.v1.NodeService, health, reflection) on a unix
 * socket or address, and JSON over HTTP on localhost and/or a unix socket. Both faces share one
 * Intake: one budget of buffered request bytes and one clock per request.
 */
import { chmod } from 'node:fs/promises'
import { NodeService } from '@phase-network/rpc/node/v1'
import { GrpcServer, Intake } from '@phase-network/rpc'
import type { NodeConfig, Logger } from '@phase-network/process'
import { messageBudget, STREAM_MESSAGE_BYTES } from '@phase-network/protocol'
import { createNodeService, type NodeServiceComponents } from '../node-service.ts'
import { HttpApi } from '../http-api.ts'
import { nodeStatusJson } from '../status.ts'
import type { NodeMetrics } from '../metrics.ts'
import type { InputStore } from '../module-store.ts'
import { partOf, startParts, type Part } from './parts.ts'

/**
 * Mode of the public API sockets (gRPC and HTTP): the node's user and group (the package's
 * 'phase' group). The internal sockets stay owner-only under the service's umask, since the
 * signer signs what it is given.
 */
export const PUBLIC_SOCKET_MODE = 0o660
/** gRPC connections with no call are closed after this long. */
export const IDLE_CONNECTION_MS = 120_000
/** gRPC keepalive pings at this interval find dead peers. */
export const KEEPALIVE_MS = 60_000
/** A gRPC connection whose client sent nothing for this long is closed (keepalive answers count). */
export const SILENT_CONNECTION_MS = 2 * KEEPALIVE_MS + 20_000
/** gRPC calls open at once on one connection. */
export const MAX_CONCURRENT_STREAMS = 256
/** Jobs one SubmitJobStream may have in flight before the node stops reading it (rpc/mux.ts). */
export const MAX_STREAM_CALLS = 64

/** What both faces serve: the job path, the caches, and the node's info, status and peers. */
export interface PublicApiComponents extends Omit<NodeServiceComponents, 'inputs'> {
  logger: Logger
  /** Input files by hash: asked by both faces, uploaded by PUT /v1/blobs/<hash>. */
  inputs: Pick<InputStore, 'has' | 'put'>
  metrics: Pick<NodeMetrics, 'text'>
}

export type PublicApiConfig = Pick<NodeConfig, 'api' | 'limits'>

/** Bound addresses of the public API. */
export interface PublicApiAddresses {
  grpc: string
  http: string | null
}

export interface PublicApiPart extends Part {
  addresses: PublicApiAddresses
}

/**
 * Starts gRPC, then HTTP when enabled; a failure stops what had started. Both servers stop
 * together (each waits for its calls in flight), then the shared Intake closes.
 */
export async function startPublicApi (components: PublicApiComponents, config: PublicApiConfig): Promise<PublicApiPart> {
  return await startParts(async (add) => {
    const api = config.api
    const intake = new Intake({ maxBufferedBytes: api.maxBufferedBytes, minBytesPerSecond: api.minBytesPerSecond, graceMs: api.bodyGraceMs, timeoutMs: api.requestTimeoutMs })
    add(partOf(() => intake.close()))
    const grpcServer = createGrpc(components, config, intake)
    const httpApi = api.http.enabled ? createHttp(components, config, intake) : undefined
    add(partOf(async () => { await Promise.all([grpcServer.stop(), httpApi?.stop()]) }))
    const grpc = await grpcServer.start(api.grpc)
    if (grpc.startsWith('unix:')) await chmod(grpc.slice('unix:'.length), PUBLIC_SOCKET_MODE)
    let http: string | null = null
    if (httpApi !== undefined) {
      http = await httpApi.start()
      await chmod(api.http.socket, PUBLIC_SOCKET_MODE)
    }
    return { addresses: { grpc, http } }
  })
}

/** The gRPC server with NodeService (health and reflection come with GrpcServer). */
function createGrpc (c: PublicApiComponents, config: PublicApiConfig, intake: Intake): GrpcServer {
  const api = config.api
  // The public API takes a module, input files and a manifest (messageBudget: within the whole buffer).
  const server = new GrpcServer({ logger: c.logger.child({ component: 'grpc' }) }, {
    maxMessageBytes: messageBudget(config.limits, api.maxBufferedBytes).grpcRequest,
    reflection: true,
    intake,
    idleConnectionMs: IDLE_CONNECTION_MS,
    keepaliveMs: KEEPALIVE_MS,
    maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
    maxStreamMessageBytes: STREAM_MESSAGE_BYTES,
    maxStreamCalls: MAX_STREAM_CALLS,
    // An open SubmitJobStream is a call: without this its connection would never idle out.
    streamIdleMs: IDLE_CONNECTION_MS,
    maxConnections: api.maxConnections,
    // As an HTTP client gets headers_timeout_ms for its headers; a live client answers keepalive
    // pings, so one that sent nothing for two of their intervals and a timeout is gone or stuck.
    handshakeMs: api.headersTimeoutMs,
    silentMs: SILENT_CONNECTION_MS
  })
  return server.add(NodeService, createNodeService(c, { token: api.token }))
}

/** The JSON-over-HTTP face, with the status report as JSON and the Prometheus text. */
function createHttp (c: PublicApiComponents, config: PublicApiConfig, intake: Intake): HttpApi {
  const api = config.api
  return new HttpApi({
    jobs: c.jobs,
    modules: c.modules,
    inputs: c.inputs,
    info: c.info,
    status: async () => nodeStatusJson(await c.status()),
    findExecutors: c.findExecutors,
    peers: c.peers,
    ...(c.diagnose === undefined ? {} : { doctor: c.diagnose }),
    metrics: async () => await c.metrics.text(),
    logger: c.logger.child({ component: 'http' })
  }, {
    host: api.http.host,
    port: api.http.port,
    tcp: api.http.tcp,
    allowedHosts: api.http.allowedHosts,
    socket: api.http.socket,
    token: api.token,
    // A module and input files as base64 plus the manifest, within the whole budget (bigger
    // input files go alone, raw: PUT /v1/blobs/<hash>).
    maxBodyBytes: messageBudget(config.limits, api.maxBufferedBytes).httpBody,
    maxInputFileBytes: config.limits.maxInputFileBytes,
    intake,
    headersTimeoutMs: api.headersTimeoutMs,
    requestTimeoutMs: api.requestTimeoutMs,
    maxConnections: api.maxConnections
  })
}
