/**
 * grpc.health.v1 (Check, Watch, List) served with protobuf-es's wire codec, which every process
 * loads anyway. The grpc-health-check package parses health.proto at start with protobufjs and
 * proto-loader: ~7 MiB and ~70 ms in each of the node's processes for three tiny messages
 * (issue 11). Same behaviour: Check of an unknown service is NOT_FOUND, Watch sends the current
 * status (SERVICE_UNKNOWN when there is none) and every change, List answers up to 100 services.
 */
import * as grpc from '@grpc/grpc-js'
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire'

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN'
const STATUS_NUMBER: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 }
const STATUS_NAME = Object.fromEntries(Object.entries(STATUS_NUMBER).map(([k, v]) => [v, k])) as Record<number, ServingStatus>
/** List refuses past this many services (as grpc-health-check does). */
const LIST_LIMIT = 100

interface CheckRequest { service: string }
interface CheckResponse { status: ServingStatus }
interface ListResponse { statuses: Record<string, CheckResponse> }

/** HealthCheckRequest { string service = 1 }; throws on bytes that are not protobuf. */
function decodeRequest (bytes: Uint8Array): CheckRequest {
  const r = new BinaryReader(bytes)
  let service = ''
  while (r.pos < r.len) {
    const [no, wireType] = r.tag()
    if (no === 1 && wireType === WireType.LengthDelimited) service = r.string()
    else r.skip(wireType, no)
  }
  return { service }
}

/** HealthListRequest {}: fields skipped, bytes still checked. */
function decodeEmpty (bytes: Uint8Array): Record<string, never> {
  const r = new BinaryReader(bytes)
  while (r.pos < r.len) {
    const [no, wireType] = r.tag()
    r.skip(wireType, no)
  }
  return {}
}

function writeStatus (w: BinaryWriter, status: ServingStatus): BinaryWriter {
  const n = STATUS_NUMBER[status]
  if (n !== 0) w.tag(1, WireType.Varint).int32(n)
  return w
}

function encodeResponse (res: CheckResponse): Buffer {
  return Buffer.from(writeStatus(new BinaryWriter(), res.status).finish())
}

/** HealthListResponse { map<string, HealthCheckResponse> statuses = 1 }. */
function encodeList (res: ListResponse): Buffer {
  const w = new BinaryWriter()
  for (const [name, value] of Object.entries(res.statuses)) {
    w.tag(1, WireType.LengthDelimited).fork()
    w.tag(1, WireType.LengthDelimited).string(name)
    w.tag(2, WireType.LengthDelimited).fork()
    writeStatus(w, value.status).join()
    w.join()
  }
  return Buffer.from(w.finish())
}

function decodeResponse (bytes: Uint8Array): CheckResponse {
  const r = new BinaryReader(bytes)
  let status: ServingStatus = 'UNKNOWN'
  while (r.pos < r.len) {
    const [no, wireType] = r.tag()
    if (no === 1 && wireType === WireType.Varint) status = STATUS_NAME[r.int32()] ?? 'UNKNOWN'
    else r.skip(wireType, no)
  }
  return { status }
}

const identity = <T>(x: T): T => x
function method<Req, Res> (name: string, responseStream: boolean, decode: (b: Uint8Array) => Req, encode: (r: Res) => Buffer): grpc.MethodDefinition<Req, Res> {
  return {
    path: `/grpc.health.v1.Health/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: identity as never,
    requestDeserialize: decode,
    responseSerialize: encode,
    responseDeserialize: (name === 'List' ? identity : decodeResponse) as never,
    originalName: name.charAt(0).toLowerCase() + name.slice(1)
  }
}

export const HEALTH_SERVICE: grpc.ServiceDefinition = {
  Check: method<CheckRequest, CheckResponse>('Check', false, decodeRequest, encodeResponse),
  Watch: method<CheckRequest, CheckResponse>('Watch', true, decodeRequest, encodeResponse),
  List: method<Record<string, never>, ListResponse>('List', false, decodeEmpty, encodeList)
}

export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>()
  private readonly watchers = new Map<string, Set<(s: ServingStatus) => void>>()

  constructor (initial: Record<string, ServingStatus> = {}) {
    for (const [name, status] of Object.entries(initial)) this.statuses.set(name, status)
  }

  setStatus (service: string, status: ServingStatus): void {
    this.statuses.set(service, status)
    for (const watcher of this.watchers.get(service) ?? []) watcher(status)
  }

  addToServer (server: Pick<grpc.Server, 'addService'>): void {
    server.addService(HEALTH_SERVICE, {
      check: (call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, callback: grpc.sendUnaryData<CheckResponse>) => {
        const status = this.statuses.get(call.request.service)
        if (status !== undefined) callback(null, { status })
        else callback({ code: grpc.status.NOT_FOUND, details: `Health status unknown for service ${call.request.service}` })
      },
      watch: (call: grpc.ServerWritableStream<CheckRequest, CheckResponse>) => {
        const name = call.request.service
        const watcher = (status: ServingStatus): void => { call.write({ status }) }
        let set = this.watchers.get(name)
        if (set === undefined) this.watchers.set(name, set = new Set())
        set.add(watcher)
        call.on('cancelled', () => {
          set.delete(watcher)
          if (set.size === 0 && this.watchers.get(name) === set) this.watchers.delete(name)
        })
        call.write({ status: this.statuses.get(name) ?? 'SERVICE_UNKNOWN' })
      },
      list: (_call: grpc.ServerUnaryCall<unknown, ListResponse>, callback: grpc.sendUnaryData<ListResponse>) => {
        if (this.statuses.size > LIST_LIMIT) { callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'Too many services to list.' }); return }
        callback(null, { statuses: Object.fromEntries([...this.statuses].map(([k, v]) => [k, { status: v }])) })
      }
    } as grpc.UntypedServiceImplementation)
  }
}
