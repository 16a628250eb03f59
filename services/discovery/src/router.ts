/**
 * Where a job runs: `local` (this node's executors), `remote` (a peer found on the network),
 * `auto` (local, else remote when the local executors are full or down), or one named peer.
 * A remote result comes back only after its receipt passed every check (see p2p/index.ts).
 */
import { manifestInputs, parseManifest, type Manifest } from '@phase-network/protocol'
import { sanitize } from '@phase-network/process'
import { contentHash } from '@phase-network/protocol/node'
import { HashMismatchError, InputNotCachedError, InvalidManifestError, ModuleNotCachedError, UnavailableError, isPhaseError } from '@phase-network/protocol'
import type { LimitsConfig, Logger } from '@phase-network/process'
import type { JobRequest, JobResult, JobRunner } from './jobs.ts'
import type { InputStore, ModuleStore } from './module-store.ts'
import { admitInputs } from './input-files.ts'
import type { PhaseNetwork, CapabilityRecord } from './p2p/index.ts'
import { checkPeerIdArgument } from './peer-id-arg.ts'

/** Time a remote job gets beyond its own wall-time limit (dial, transfer, signing). */
const REMOTE_SLACK_MS = 10_000
const TARGETS = new Set(['', 'local', 'remote', 'auto'])

/** Most replicas one job may ask for. */
export const MAX_REPLICAS = 16

export interface RoutedRequest extends JobRequest {
  /** Bytes of the manifest's input files sent with the request (files this node holds may be left out). */
  inputs?: ReadonlyArray<{ hash: string, data: Uint8Array }>
  target?: string
  peerId?: string
  /** Run on this many distinct nodes and report agreement (0 or 1: one run). */
  replicas?: number
}

export interface ReplicaOutcome {
  peerId: string
  status: string
  exitCode: number
  stdoutHash: string
  stderrHash: string
  receiptJson: Uint8Array
  errorCode: string
  errorMessage: string
  /** The signed capability record of the node that ran it (binds peerId to its receipt key), when known. */
  capability?: CapabilityRecord
}

export interface RoutedResult extends JobResult {
  /** The node that ran the job. */
  peerId: string
  /** Its signed capability record (binds peerId to the receipt key), when on the network. */
  capability?: CapabilityRecord
  /** With replicas: every run. */
  replicas?: ReplicaOutcome[]
  /** With replicas: runs agreeing with the returned output. */
  agreeing?: number
}

export interface JobRouterComponents {
  jobs: Pick<JobRunner, 'run'>
  logger?: Pick<Logger, 'debug'>
  modules: Pick<ModuleStore, 'has' | 'get' | 'put'>
  /** Where a remote job's input files are kept, as a local job's are (absent: none cached). */
  inputs?: Pick<InputStore, 'has' | 'get' | 'put' | 'sizeOf'>
  network?: Pick<PhaseNetwork, 'runRemote' | 'pickPeers' | 'reportReplicas'> & {
    /** Undefined while the host is still starting (compose/network.ts LateNetwork). */
    capability: () => Promise<CapabilityRecord | undefined>
  }
}

/** No input store: every file must come with the request. */
const NO_INPUTS: Pick<InputStore, 'has' | 'get' | 'put' | 'sizeOf'> = { has: () => false, get: async () => undefined, put: async () => {}, sizeOf: () => undefined }

export class JobRouter {
  private readonly c: JobRouterComponents
  private readonly init: { peerId: string, limits: LimitsConfig }

  constructor (components: JobRouterComponents, init: { peerId: string, limits: LimitsConfig }) {
    this.c = components
    this.init = init
  }

  async run (request: RoutedRequest, options: { signal?: AbortSignal } = {}): Promise<RoutedResult> {
    const target = request.target ?? ''
    if (!TARGETS.has(target)) throw new InvalidManifestError(`target must be local, remote or auto, got '${target.slice(0, 20)}'`)
    const peerId = request.peerId ?? ''
    if (peerId !== '') checkPeerIdArgument(peerId)
    const replicas = request.replicas ?? 0
    if (replicas > 1) return await this.replicated(request, replicas, target === 'remote', options)
    if (peerId === '' && target !== 'remote') {
      let result: JobResult
      try {
        result = await this.c.jobs.run(request, options)
      } catch (err) {
        // auto: a full or absent executor, or a runtime this node lacks, sends the job to a peer.
        if (target !== 'auto' || !(isPhaseError(err, 'queue_full') || isPhaseError(err, 'unavailable') || isPhaseError(err, 'runtime_unavailable'))) throw err
        return await this.remote(request, undefined, options)
      }
      return { ...result, peerId: this.init.peerId, capability: await this.ownCapability() }
    }
    return await this.remote(request, peerId === '' ? undefined : peerId, options)
  }

  /**
   * This node's capability record for a job it ran, or none when it cannot be had now (the host
   * still starting, an executor not yet answering for the record's runtimes). The job ran and
   * its receipt exists, so its id is spent: failing the answer here lost the result for good
   * (a retry with the same manifest is refused replayed_job). Seen at start-up: a first job
   * served by executor 1 while executor 0 was not listening yet.
   */
  private async ownCapability (): Promise<CapabilityRecord | undefined> {
    try {
      return await this.c.network?.capability()
    } catch (err) {
      this.c.logger?.debug({ err: (err as Error).message }, 'capability record not available for a job this node ran')
      return undefined
    }
  }

  private async remote (request: RoutedRequest, peerId: string | undefined, options: { signal?: AbortSignal }): Promise<RoutedResult> {
    const network = this.network()
    if (peerId === this.init.peerId) throw new InvalidManifestError('peer_id names this node; use target local')
    const { manifest, loadModule, loadInput, timeoutMs } = await this.prepare(request)
    const r = await network.runRemote(manifest, loadModule, { peerId, signal: options.signal, timeoutMs, loadInput })
    return { ...r, manifest, executor: -1 }
  }

  /**
   * The same job on `k` distinct nodes (this one first unless remoteOnly), concurrently; a
   * failed run is replaced by the next best peer while any is left. The output returned is the
   * one most runs agree on; every run is reported.
   */
  private async replicated (request: RoutedRequest, k: number, remoteOnly: boolean, options: { signal?: AbortSignal }): Promise<RoutedResult> {
    if (k > MAX_REPLICAS) throw new InvalidManifestError(`replicas must be at most ${MAX_REPLICAS}`)
    if (request.peerId !== undefined && request.peerId !== '') throw new InvalidManifestError('replicas and peer_id exclude each other')
    const network = this.network()
    const { manifest, loadModule, loadInput, timeoutMs } = await this.prepare(request)
    const local = remoteOnly ? 0 : 1
    const peers = await network.pickPeers(k - local + MAX_REPLICAS, new Set([this.init.peerId]))
    if (peers.length + local < k) throw new UnavailableError(`only ${peers.length + local} nodes are available for ${k} replicas`)
    const spare = peers.slice(k - local)
    const runs: RoutedResult[] = []
    const outcomes: ReplicaOutcome[] = []
    const runRemote = async (peer: string): Promise<void> => {
      try {
        const r = await network.runRemote(manifest, loadModule, { peerId: peer, signal: options.signal, timeoutMs, loadInput })
        runs.push({ ...r, manifest, executor: -1 })
        outcomes.push(outcome(r, r.capability))
      } catch (err) {
        outcomes.push(failed(peer, err))
        const next = spare.shift()
        if (next !== undefined) await runRemote(next)
      }
    }
    const tasks = peers.slice(0, k - local).map(runRemote)
    if (local === 1) {
      tasks.push((async () => {
        try {
          const r = { ...await this.c.jobs.run({ manifest, ...(request.inputs !== undefined ? { inputs: request.inputs } : {}) }, options), peerId: this.init.peerId, capability: await this.ownCapability() }
          runs.unshift(r)
          outcomes.push(outcome(r, r.capability))
        } catch (err) {
          outcomes.push(failed(this.init.peerId, err))
        }
      })())
    }
    await Promise.all(tasks)
    if (runs.length === 0) throw new UnavailableError(`all ${k} replicas failed`)
    const keys = new Map(runs.map((r) => [r, agreementKey(r)]))
    const key = (r: RoutedResult): string => keys.get(r)!
    const votes = new Map<string, number>()
    for (const r of runs) votes.set(key(r), (votes.get(key(r)) ?? 0) + 1)
    const best = runs.reduce((a, b) => votes.get(key(b))! > votes.get(key(a))! ? b : a)
    // The peers that computed something else than a clear majority (or this node itself) pay for it in reputation.
    network.reportReplicas(minority(runs.map((r) => ({ peerId: r.peerId, key: key(r) })), this.init.peerId))
    return { ...best, replicas: outcomes, agreeing: votes.get(key(best))! }
  }

  /** Validates the manifest, checks and stores sent module bytes, and gives loaders for the module and input files. */
  private async prepare (request: RoutedRequest): Promise<{ manifest: Manifest, loadModule: () => Promise<Uint8Array>, loadInput: (hash: string) => Promise<Uint8Array>, timeoutMs: number }> {
    const manifest = parseManifest(request.manifest)
    const hash = manifest.module_hash
    if (request.module !== undefined && request.module.byteLength > 0) {
      if (request.module.byteLength > this.init.limits.maxModuleBytes) throw new InvalidManifestError('module is larger than this node accepts')
      const actual = contentHash(request.module)
      if (actual !== hash) throw new HashMismatchError(`module bytes hash to ${actual}, manifest says ${hash}`)
      await this.c.modules.put(hash, request.module)
    } else if (!this.c.modules.has(hash)) {
      throw new ModuleNotCachedError(`module ${hash} is not cached on this node; send its bytes`)
    }
    const loadModule = async (): Promise<Uint8Array> => {
      const bytes = await this.c.modules.get(hash)
      if (bytes === undefined) throw new ModuleNotCachedError(`module ${hash} is no longer cached`)
      return bytes
    }
    const loadInput = await this.inputLoader(manifest, request.inputs)
    return { manifest, loadModule, loadInput, timeoutMs: (manifest.limits?.timeout_ms ?? this.init.limits.defaultTimeoutMs) + REMOTE_SLACK_MS }
  }

  /**
   * Input files for a peer that lacks them: admitted as a local job's are (each sent file checked
   * against its hash and the caps, then kept in this node's input store, so the next job names it
   * by hash), else from that store. A file in neither is refused before any peer is asked.
   */
  private async inputLoader (manifest: Manifest, sent: JobRequest['inputs']): Promise<(hash: string) => Promise<Uint8Array>> {
    const admitted = await admitInputs(this.c.inputs ?? NO_INPUTS, manifest, sent, this.init.limits)
    let files: Promise<Map<string, Uint8Array>> | undefined
    return async (hash) => {
      files ??= admitted.load().then((list) => new Map(list.map((f) => [f.hash, f.data])))
      const bytes = (await files).get(hash)
      if (bytes === undefined) throw new InputNotCachedError(`input file ${sanitize(hash, 80)} is not one of the job's`, [hash])
      return bytes
    }
  }


  private network (): NonNullable<JobRouterComponents['network']> {
    if (this.c.network === undefined) throw new UnavailableError('this node is not on the network (p2p.enabled is false)')
    return this.c.network
  }
}

/**
 * What replicas must agree on: status, exit code, stdout and stderr hashes, and the receipt's own
 * output files (path, hash, size) and fuel used. A remote run's receipt was verified, and its files
 * checked against it, before it got here; a local run's receipt is this node's own.
 */
export function agreementKey (r: { status: string, exitCode: number, stdout: Uint8Array, stderr: Uint8Array, receiptJson: Uint8Array }): string {
  let receipt: { outputs?: Array<{ path: string, hash: string, bytes: number }>, fuel_used?: number } = {}
  try { receipt = JSON.parse(new TextDecoder().decode(r.receiptJson)) } catch { receipt = {} }
  const files = (receipt.outputs ?? []).map((o) => `${o.path}:${o.hash}:${o.bytes}`).join(',')
  return `${r.status}/${r.exitCode}/${contentHash(r.stdout)}/${contentHash(r.stderr)}/${files}/${receipt.fuel_used ?? ''}`
}

/**
 * The remote runs outvoted by the others: those whose key differs from the one a strict majority
 * of runs agree on, or, without a majority, from this node's own run when it has the most votes
 * (its own executors are the one result it need not trust). A tie among peers names nobody.
 */
export function minority (runs: ReadonlyArray<{ peerId: string, key: string }>, self: string): string[] {
  const votes = new Map<string, number>()
  for (const r of runs) votes.set(r.key, (votes.get(r.key) ?? 0) + 1)
  const most = Math.max(...votes.values())
  const top = [...votes].filter(([, n]) => n === most).map(([k]) => k)
  const own = runs.find((r) => r.peerId === self)?.key
  const winner = most * 2 > runs.length ? top[0] : own !== undefined && top.includes(own) ? own : undefined
  if (winner === undefined) return []
  return runs.filter((r) => r.key !== winner && r.peerId !== self).map((r) => r.peerId)
}

/** One finished run; for a remote one, status and exit code are already those of its verified receipt. */
function outcome (r: { peerId: string, status: string, exitCode: number, stdout: Uint8Array, stderr: Uint8Array, receiptJson: Uint8Array }, capability: CapabilityRecord | undefined): ReplicaOutcome {
  return { peerId: r.peerId, status: r.status, exitCode: r.exitCode, stdoutHash: contentHash(r.stdout), stderrHash: contentHash(r.stderr), receiptJson: r.receiptJson, errorCode: '', errorMessage: '', capability }
}

function failed (peerId: string, err: unknown): ReplicaOutcome {
  const e = isPhaseError(err) ? err : { code: 'internal', message: 'internal error' }
  return { peerId, status: '', exitCode: -1, stdoutHash: '', stderrHash: '', receiptJson: new Uint8Array(), errorCode: e.code, errorMessage: e.message }
}
