/**
 * The Node.js client of a Phase node's public gRPC API: submit a job (the module's bytes are
 * sent only when the node lacks them), get output + receipt, and have the receipt verified —
 * against the key you pin, or against the key the runner's signed capability record binds to
 * the PeerId that ran it. Every call takes `{ signal, timeoutMs }`.
 */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { contentHash as fastHash } from '@phase-network/protocol/node'
import { NodeService, type Executor, type FindExecutorsRequest, type GetNodeInfoResponse, type GetNodeStatusResponse, type Peer } from '@phase-network/rpc/node/v1'
import { createGrpcClient, type GrpcClient } from '@phase-network/rpc'
import { canonicalBytes } from '@phase-network/protocol'
import { contentHash } from '@phase-network/protocol'
import { CLIENT_MAX_MESSAGE_BYTES, STREAM_MESSAGE_BYTES, PhaseError, VerificationError, isPhaseError } from '@phase-network/protocol'
import type { Manifest } from '@phase-network/protocol'
import type { Receipt } from '@phase-network/protocol'
import { ManifestBuilder } from './manifest.ts'
import { verify } from './verify.ts'

/** A file a job wrote under /out: its guest path and bytes. */
export interface OutputFile {
  path: string
  data: Uint8Array
}

/** The doctor report's outline (schemas/doctor-report.schema.json has all of it). */
export interface DoctorReport {
  version: number
  generated_at: string
  status: 'ok' | 'warn' | 'fail'
  node: { peer_id: string, version: string, pid: number, uptime_s: number }
  network: null | {
    reachability: 'public' | 'relayed' | 'private' | 'offline'
    listen_addresses: string[]
    announced_addresses: string[]
    relay_reservations: string[]
    nat: { autonat: string, behind_nat: boolean | null, observed_addresses: string[] }
    bootstrap: Array<{ address: string, peer_id: string | null, reachable: boolean, connected: boolean, error: string | null }>
    peers_connected: number
    dht_routing_table_size: number
    clock: { peers_asked: number, peers_answered: number, median_skew_ms: number | null, max_abs_skew_ms: number | null, samples: Array<{ peer_id: string, skew_ms: number, rtt_ms: number }> }
  }
  files: Array<{ what: string, path: string, exists: boolean, mode: string | null, uid: number | null, dir_mode: string | null }>
  config: { source: string | null, warnings: string[] }
  resources: { disk: null | { path: string, free_bytes: number, total_bytes: number, needed_bytes: number }, memory: null | { available_bytes: number, total_bytes: number, needed_bytes: number } }
  checks: Array<{ name: string, status: 'ok' | 'warn' | 'fail', message: string }>
}

export interface PhaseClientInit {
  /** gRPC address of the node: `unix:/path` or `host:port`. */
  address: string
  /** API token, when the node requires one. */
  token?: string
  /** Default deadline per call in ms. Default: none (jobs carry their own limits). */
  timeoutMs?: number
}

export interface SubmitOptions {
  /** `local` (default), `remote` or `auto`. */
  target?: 'local' | 'remote' | 'auto'
  /** Run on this peer. */
  peerId?: string
  /** Run on this many distinct nodes and report agreement. */
  replicas?: number
  /** The receipt key you trust for a local run (pin it: `phase node key`). */
  expectedKey?: string
  /** Trust the node you talk to: take its key from GetNodeInfo for local runs. */
  trustNode?: boolean
  /**
   * Bytes of the manifest's input files (any order; each must be one the manifest names). Only
   * those the node lacks are sent. Default: the files given to the builder with `input()`.
   */
  inputs?: readonly Uint8Array[]
  /** Told each step of the submission (for a progress line); must not throw. */
  onProgress?: (event: SubmitProgress) => void
  signal?: AbortSignal
  timeoutMs?: number
}

/**
 * A step of `submit`: `checking` (asking which bytes the node lacks), `sending` (the request is
 * on its way with `bytes` of module and input files; the node queues and runs the job before it
 * answers), `verifying` (the answer is in; the receipt is being checked).
 */
export interface SubmitProgress {
  stage: 'checking' | 'sending' | 'verifying'
  /** Module and input bytes in the request (sending). */
  bytes?: number
}

/** When verified, `receipt` is the receipt parsed from the verified bytes: the only source of values to report as verified. */
export type Verification = { verified: true, checks: string[], receipt: Receipt } | { verified: false, reason: string }

export interface SubmitResult {
  jobId: string
  manifest: Manifest
  status: string
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  /**
   * The files the job wrote under /out, sorted by path. When `verification.verified`, each was
   * checked against the receipt's `outputs` (hash and size; none missing, none extra).
   */
  outputs: OutputFile[]
  /** The verified receipt when `verification.verified`; otherwise the receipt as received, unverified. */
  receipt: Receipt
  /** The signed receipt exactly as received (canonical JSON). */
  receiptJson: Uint8Array
  /** The node that ran the job. */
  peerId: string
  /** With trustNode: whether another node than the one called ran the job. */
  remote?: boolean
  /** Its signed capability record, when the node is on the network. */
  capability?: unknown
  replicas: ReplicaResult[]
  agreeing: number
  verification: Verification
}

/**
 * One run of a replicated job. `status` and `exitCode` are those of its receipt once verified
 * (against the key its own capability record binds to `peerId`); a failed run has no receipt.
 */
export interface ReplicaResult {
  peerId: string
  status: string
  exitCode: number
  stdoutHash: string
  errorCode: string
  errorMessage: string
  receiptJson: Uint8Array
  /** Its signed capability record, when the node sent one. */
  capability?: unknown
  verification: Verification
}

/**
 * Module hashes a client remembers as held by its node (≈ 80 bytes each, so ≤ ~20 KiB): their
 * bytes are not offered again, and no HasModule round trip is spent on them.
 */
const MAX_KNOWN_MODULES = 256

export class PhaseClient {
  private readonly client: GrpcClient<typeof NodeService>
  private readonly metadata: Record<string, string>
  private readonly timeoutMs: number | undefined
  /** Modules the node held at this client's last look (oldest first). */
  private readonly knownModules = new Set<string>()

  constructor (init: PhaseClientInit) {
    // Jobs go as messages on one long-lived stream (SubmitJobStream: no HTTP/2 stream set-up per
    // job); a request too large for a stream message goes as a unary call.
    this.client = createGrpcClient(NodeService, init.address, { maxMessageBytes: CLIENT_MAX_MESSAGE_BYTES, multiplex: (_method, request) => streamable(request) })
    this.metadata = init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}
    this.timeoutMs = init.timeoutMs
  }

  /** Runs `job` (a manifest or a builder) with `module` bytes (sent only if the node lacks them). */
  async submit (job: Manifest | ManifestBuilder, module: Uint8Array | undefined, options: SubmitOptions = {}): Promise<SubmitResult> {
    const manifest = job instanceof ManifestBuilder ? job.build() : job
    const call = { metadata: this.metadata, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs }
    const hash = manifest.module_hash
    if (module !== undefined && contentHash(module) !== hash) throw new PhaseError('hash_mismatch', 'module bytes do not match the manifest module_hash')
    const target = options.target ?? (options.peerId !== undefined ? 'remote' : '')
    // A local job of a module the node held a moment ago goes without bytes and without asking:
    // the node refuses it (module_not_cached, before any work or replay claim) if it has since
    // dropped the module, and the bytes go once then.
    const local = (target === '' || target === 'local') && (options.replicas ?? 0) <= 1
    const known = module !== undefined && local && this.knownModules.has(hash)
    const progress = options.onProgress ?? (() => {})
    progress({ stage: 'checking' })
    const cached = module === undefined || known ? true : (await this.client.hasModule({ moduleHash: hash }, call)).cached
    const inputs = await this.inputsToSend(manifest, options.inputs ?? (job instanceof ManifestBuilder ? job.inputFiles().map((f) => f.data) : []), call)
    const request = { manifestJson: canonicalBytes(manifest), inputs, target, peerId: options.peerId, replicas: options.replicas }
    const inputBytes = inputs.reduce((n, i) => n + i.data.byteLength, 0)
    let res
    try {
      progress({ stage: 'sending', bytes: (cached ? 0 : module?.byteLength ?? 0) + inputBytes })
      res = await this.client.submitJob({ ...request, module: cached ? undefined : module }, call)
    } catch (err) {
      if (!known || !isPhaseError(err, 'module_not_cached')) throw err
      this.knownModules.delete(hash)
      progress({ stage: 'sending', bytes: (module?.byteLength ?? 0) + inputBytes })
      res = await this.client.submitJob({ ...request, module }, call)
    }
    progress({ stage: 'verifying' })
    if (module !== undefined && local) this.rememberModule(hash)
    const receiptText = new TextDecoder().decode(res.receiptJson)
    const capability = res.capabilityJson.byteLength > 0 ? JSON.parse(new TextDecoder().decode(res.capabilityJson)) as unknown : undefined
    let expectedKey = options.expectedKey
    let remote: boolean | undefined
    if (options.trustNode === true) {
      const info = await this.client.getNodeInfo({}, call)
      remote = info.peerId !== res.peerId
      if (expectedKey === undefined && !remote) expectedKey = info.receiptPublicKey
    }
    const outputs: OutputFile[] = res.outputs.map(({ path, data }) => ({ path, data }))
    // The files received are checked with the receipt: exactly those it lists (the `outputs` check).
    const verification = await this.check(res.receiptJson, manifest, { stdout: res.stdout, stderr: res.stderr, files: outputs }, res.peerId, expectedKey, capability === undefined ? undefined : res.capabilityJson)
    const verified = verification.verified ? verification.receipt : undefined
    // Once verified, reported values are the receipt's own; a node that says otherwise beside it is refused.
    if (verified !== undefined) agree({ job_id: res.jobId, status: res.status, exit_code: res.exitCode }, verified)
    return {
      jobId: verified?.job_id ?? res.jobId,
      manifest,
      status: verified?.status ?? res.status,
      exitCode: verified?.exit_code ?? Number(res.exitCode),
      stdout: res.stdout,
      stderr: res.stderr,
      outputs,
      receipt: verified ?? JSON.parse(receiptText) as Receipt,
      receiptJson: res.receiptJson,
      peerId: res.peerId,
      remote,
      capability,
      replicas: await Promise.all(res.replicas.map(async (r) => await replicaResult({ ...r, exitCode: Number(r.exitCode) }, manifest))),
      agreeing: res.agreeing,
      verification
    }
  }

  /**
   * Reads a module file and submits it with `args` (a manifest is built with a fresh nonce).
   * `files`: local files the guest reads under /in (see `readInputFile`).
   */
  async run (path: string, args: string[] = [], options: SubmitOptions & { stdin?: Uint8Array, files?: ReadonlyArray<{ path: string, data: Uint8Array }> } = {}): Promise<SubmitResult> {
    const module = new Uint8Array(await readFile(path))
    const builder = new ManifestBuilder(contentHash(module)).args(...args)
    if (options.stdin !== undefined) builder.stdin(options.stdin)
    for (const f of options.files ?? []) builder.input(f.path, f.data)
    return await this.submit(builder, module, options)
  }

  /**
   * The input files the node lacks, with their bytes: each given file must be one the manifest
   * names (by hash); the node is asked which of them it caches (HasInputs).
   */
  private async inputsToSend (manifest: Manifest, files: readonly Uint8Array[], call: { metadata: Record<string, string>, signal?: AbortSignal, timeoutMs?: number }): Promise<Array<{ hash: string, data: Uint8Array }>> {
    if (files.length === 0) return []
    const named = new Set((manifest.inputs ?? []).map((i) => i.hash))
    const byHash = new Map<string, Uint8Array>()
    for (const data of files) {
      const hash = fastHash(data)
      if (!named.has(hash)) throw new PhaseError('invalid_argument', `an input file given (${hash}) is not named by the manifest's inputs`)
      byHash.set(hash, data)
    }
    const { missing } = await this.client.hasInputs({ hashes: [...byHash.keys()] }, call)
    return missing.map((hash) => ({ hash, data: byHash.get(hash)! }))
  }

  /** The node's identity, version, runtime and network counters (GetNodeInfo; as JSON: `nodeInfoJson`). */
  async nodeInfo (options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<GetNodeInfoResponse> {
    return await this.client.getNodeInfo({}, { metadata: this.metadata, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs })
  }

  /** The node's processes, queue and peers (GetNodeStatus; as JSON: `nodeStatusJson`). */
  async nodeStatus (options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<GetNodeStatusResponse> {
    return await this.client.getNodeStatus({}, { metadata: this.metadata, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs })
  }

  /** The peers the node is connected to (ListPeers). */
  async peers (options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Peer[]> {
    return (await this.client.listPeers({}, { metadata: this.metadata, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs })).peers
  }

  /**
   * Nodes that run jobs, found through the DHT (FindExecutors), each checked through its signed
   * capability record, least loaded first. Empty fields of `request` match anything.
   */
  async findExecutors (request: Partial<Pick<FindExecutorsRequest, 'runtime' | 'arch' | 'minMemoryMb' | 'minCores' | 'limit'>> = {}, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<{ executors: Executor[], lookupMs: number }> {
    const res = await this.client.findExecutors(request, { metadata: this.metadata, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs })
    return { executors: res.executors, lookupMs: res.lookupMs }
  }

  /**
   * The node's doctor report (Diagnose; `GET /v1/doctor`): reachability and NAT, addresses,
   * bootstrap peers, DHT, clock skew, key and socket modes, config warnings, disk and memory,
   * and a status per check — as the JSON document of schemas/doctor-report.schema.json.
   */
  async diagnose (options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<DoctorReport> {
    const res = await this.client.diagnose({}, { metadata: this.metadata, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs })
    return JSON.parse(new TextDecoder().decode(res.reportJson)) as DoctorReport
  }

  close (): void {
    this.client.close()
  }

  private rememberModule (hash: string): void {
    this.knownModules.delete(hash)
    this.knownModules.add(hash)
    if (this.knownModules.size > MAX_KNOWN_MODULES) this.knownModules.delete(this.knownModules.values().next().value!)
  }

  /** A receipt is "verified" only against a key the caller expects (pinned, or PeerId-bound). */
  private async check (receiptJson: Uint8Array, job: Manifest, outputs: { stdout: Uint8Array, stderr: Uint8Array, files: OutputFile[] }, peerId: string, expectedKey: string | undefined, capability: Uint8Array | undefined): Promise<Verification> {
    if (expectedKey === undefined && capability === undefined) {
      return { verified: false, reason: 'no expected key: pass expectedKey (or trustNode) for a node that is not on the network' }
    }
    const result = await verify(receiptJson, {
      expectedKey,
      ...(capability !== undefined ? { expectedPeerId: peerId, capability } : {}),
      job,
      outputs
    })
    return { verified: true, checks: result.checks, receipt: result.receipt }
  }
}

/** Room in a stream message beyond the request's byte fields (ids, strings, framing). */
const STREAM_MESSAGE_ROOM_BYTES = 16 * 1024

/** True when a SubmitJob request fits a SubmitJobStream message (STREAM_MESSAGE_BYTES). */
function streamable (request: { manifestJson?: Uint8Array, module?: Uint8Array, inputs?: ReadonlyArray<{ data: Uint8Array }> }): boolean {
  let bytes = (request.manifestJson?.byteLength ?? 0) + (request.module?.byteLength ?? 0) + STREAM_MESSAGE_ROOM_BYTES
  for (const input of request.inputs ?? []) bytes += input.data.byteLength
  return bytes <= STREAM_MESSAGE_BYTES
}

/** Throws when what the node reported differs from what the verified receipt says. */
function agree (said: { job_id: string, status: string, exit_code: number | bigint }, receipt: Receipt): void {
  for (const field of ['job_id', 'status', 'exit_code'] as const) {
    // As text: the exit code may arrive as a bigint (int64 on the wire) and is a number in JSON.
    if (String(said[field]) !== String(receipt[field])) throw new VerificationError(field, `the node reports ${field} ${String(said[field]).slice(0, 80)}, the verified receipt says ${String(receipt[field]).slice(0, 80)}`)
  }
}

/** A replica checked on its own: its receipt against the key its capability record binds to its PeerId. */
async function replicaResult (r: { peerId: string, status: string, exitCode: number, stdoutHash: string, errorCode: string, errorMessage: string, receiptJson: Uint8Array, capabilityJson: Uint8Array }, job: Manifest): Promise<ReplicaResult> {
  const base = { peerId: r.peerId, stdoutHash: r.stdoutHash, errorCode: r.errorCode, errorMessage: r.errorMessage, receiptJson: r.receiptJson }
  if (r.receiptJson.byteLength === 0) return { ...base, status: r.status, exitCode: r.exitCode, verification: { verified: false, reason: `the run failed: ${r.errorCode}` } }
  let capability: unknown
  try {
    if (r.capabilityJson.byteLength === 0) throw new VerificationError('key', 'no capability record binds this replica\'s PeerId to a receipt key')
    try { capability = JSON.parse(new TextDecoder().decode(r.capabilityJson)) } catch { capability = undefined }
    // The record is verified on the exact bytes received.
    const { receipt, checks } = await verify(r.receiptJson, { expectedPeerId: r.peerId, capability: r.capabilityJson, job })
    agree({ job_id: receipt.job_id, status: r.status, exit_code: r.exitCode }, receipt)
    if (receipt.stdout_hash !== r.stdoutHash) throw new VerificationError('stdout_hash', 'the node reports another stdout hash than the replica\'s receipt')
    return { ...base, status: receipt.status, exitCode: receipt.exit_code, capability, verification: { verified: true, checks, receipt } }
  } catch (err) {
    if (!(err instanceof PhaseError)) throw err
    return { ...base, status: r.status, exitCode: r.exitCode, capability, verification: { verified: false, reason: err.message } }
  }
}

/**
 * Reads a local file as a job input: the guest sees it at `guest`, by default `/in/<its file
 * name>` (a name the manifest accepts: letters, digits, `.`, `_`, `-`).
 */
export async function readInputFile (local: string, guest?: string): Promise<{ path: string, data: Uint8Array }> {
  const data = new Uint8Array(await readFile(local))
  return { path: guest ?? `/in/${basename(local)}`, data }
}
