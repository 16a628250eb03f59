/**
 * The Node.js client of a Phase node's public gRPC API: submit a job (the module's bytes are
 * sent only when the node lacks them), get output + receipt, and have the receipt verified —
 * against the key you pin, or against the key the runner's signed capability record binds to
 * the PeerId that ran it. Every call takes `{ signal, timeoutMs }`.
 */
import { readFile } from 'node:fs/promises'
import { NodeService } from '../../../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../../services/core/src/grpc/index.ts'
import { canonicalBytes } from '../../../services/core/src/canonical.ts'
import { contentHash } from '../../../services/core/src/hash.ts'
import { PhaseError } from '../../../services/core/src/errors.ts'
import type { Manifest } from '../../../services/core/src/documents/manifest.ts'
import type { Receipt } from '../../../services/core/src/documents/receipt.ts'
import { ManifestBuilder } from './manifest.ts'
import { verify } from './verify.ts'

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
  signal?: AbortSignal
  timeoutMs?: number
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
  replicas: Array<{ peerId: string, status: string, exitCode: number, stdoutHash: string, errorCode: string, errorMessage: string, receiptJson: Uint8Array }>
  agreeing: number
  verification: Verification
}

export class PhaseClient {
  private readonly client: GrpcClient<typeof NodeService>
  private readonly metadata: Record<string, string>
  private readonly timeoutMs: number | undefined

  constructor (init: PhaseClientInit) {
    this.client = createGrpcClient(NodeService, init.address, { maxMessageBytes: 1024 * 1024 * 1024 })
    this.metadata = init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}
    this.timeoutMs = init.timeoutMs
  }

  /** Runs `job` (a manifest or a builder) with `module` bytes (sent only if the node lacks them). */
  async submit (job: Manifest | ManifestBuilder, module: Uint8Array | undefined, options: SubmitOptions = {}): Promise<SubmitResult> {
    const manifest = job instanceof ManifestBuilder ? job.build() : job
    const call = { metadata: this.metadata, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs }
    if (module !== undefined && contentHash(module) !== manifest.module_hash) throw new PhaseError('hash_mismatch', 'module bytes do not match the manifest module_hash')
    const cached = module === undefined ? true : (await this.client.hasModule({ moduleHash: manifest.module_hash }, call)).cached
    const res = await this.client.submitJob({
      manifestJson: canonicalBytes(manifest),
      module: cached ? undefined : module,
      target: options.target ?? (options.peerId !== undefined ? 'remote' : ''),
      peerId: options.peerId,
      replicas: options.replicas
    }, call)
    const receiptText = new TextDecoder().decode(res.receiptJson)
    const capability = res.capabilityJson.byteLength > 0 ? JSON.parse(new TextDecoder().decode(res.capabilityJson)) as unknown : undefined
    let expectedKey = options.expectedKey
    let remote: boolean | undefined
    if (options.trustNode === true) {
      const info = await this.client.getNodeInfo({}, call)
      remote = info.peerId !== res.peerId
      if (expectedKey === undefined && !remote) expectedKey = info.receiptPublicKey
    }
    const verification = await this.check(res.receiptJson, manifest, { stdout: res.stdout, stderr: res.stderr }, res.peerId, expectedKey, capability === undefined ? undefined : res.capabilityJson)
    const verified = verification.verified ? verification.receipt : undefined
    return {
      // Once verified, reported values come from the verified receipt, not from the response beside it.
      jobId: verified?.job_id ?? res.jobId,
      manifest,
      status: verified?.status ?? res.status,
      exitCode: verified?.exit_code ?? res.exitCode,
      stdout: res.stdout,
      stderr: res.stderr,
      receipt: verified ?? JSON.parse(receiptText) as Receipt,
      receiptJson: res.receiptJson,
      peerId: res.peerId,
      remote,
      capability,
      replicas: res.replicas.map((r) => ({ peerId: r.peerId, status: r.status, exitCode: r.exitCode, stdoutHash: r.stdoutHash, errorCode: r.errorCode, errorMessage: r.errorMessage, receiptJson: r.receiptJson })),
      agreeing: res.agreeing,
      verification
    }
  }

  /** Reads a module file and submits it with `args` (a manifest is built with a fresh nonce). */
  async run (path: string, args: string[] = [], options: SubmitOptions & { stdin?: Uint8Array } = {}): Promise<SubmitResult> {
    const module = new Uint8Array(await readFile(path))
    const builder = new ManifestBuilder(contentHash(module)).args(...args)
    if (options.stdin !== undefined) builder.stdin(options.stdin)
    return await this.submit(builder, module, options)
  }

  async nodeInfo (options: { signal?: AbortSignal } = {}): Promise<{ peerId: string, receiptPublicKey: string, version: string }> {
    return await this.client.getNodeInfo({}, { metadata: this.metadata, signal: options.signal, timeoutMs: this.timeoutMs })
  }

  close (): void {
    this.client.close()
  }

  /** A receipt is "verified" only against a key the caller expects (pinned, or PeerId-bound). */
  private async check (receiptJson: Uint8Array, job: Manifest, outputs: { stdout: Uint8Array, stderr: Uint8Array }, peerId: string, expectedKey: string | undefined, capability: Uint8Array | undefined): Promise<Verification> {
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
