/**
 * Where a job runs: `local` (this node's executors), `remote` (a peer found on the network),
 * `auto` (local, else remote when the local executors are full or down), or one named peer.
 * A remote result comes back only after its receipt passed every check (see p2p/index.ts).
 */
import { parseManifest } from '../../core/src/documents/manifest.ts'
import { canonicalBytes } from '../../core/src/canonical.ts'
import { contentHash } from '../../core/src/hash-node.ts'
import { HashMismatchError, InvalidManifestError, ModuleNotCachedError, UnavailableError, isPhaseError } from '../../core/src/errors.ts'
import type { LimitsConfig } from '../../core/src/config.ts'
import type { JobRequest, JobResult, JobRunner } from './jobs.ts'
import type { ModuleStore } from './module-store.ts'
import type { PhaseNetwork } from './p2p/index.ts'

/** Time a remote job gets beyond its own wall-time limit (dial, transfer, signing). */
const REMOTE_SLACK_MS = 10_000
const TARGETS = new Set(['', 'local', 'remote', 'auto'])

export interface RoutedRequest extends JobRequest {
  target?: string
  peerId?: string
}

export interface RoutedResult extends JobResult {
  /** The node that ran the job. */
  peerId: string
}

export interface JobRouterComponents {
  jobs: Pick<JobRunner, 'run'>
  modules: Pick<ModuleStore, 'has' | 'get' | 'put'>
  network?: Pick<PhaseNetwork, 'runRemote'>
}

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
    if (peerId === '' && target !== 'remote') {
      try {
        return { ...await this.c.jobs.run(request, options), peerId: this.init.peerId }
      } catch (err) {
        if (target !== 'auto' || !(isPhaseError(err, 'queue_full') || isPhaseError(err, 'unavailable'))) throw err
      }
    }
    return await this.remote(request, peerId === '' ? undefined : peerId, options)
  }

  private async remote (request: RoutedRequest, peerId: string | undefined, options: { signal?: AbortSignal }): Promise<RoutedResult> {
    const network = this.c.network
    if (network === undefined) throw new UnavailableError('this node is not on the network (p2p.enabled is false)')
    if (peerId === this.init.peerId) throw new InvalidManifestError('peer_id names this node; use target local')
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
    const timeoutMs = (manifest.limits?.timeout_ms ?? this.init.limits.defaultTimeoutMs) + REMOTE_SLACK_MS
    const r = await network.runRemote(manifest, loadModule, { peerId, signal: options.signal, timeoutMs })
    return {
      jobId: r.jobId,
      manifest,
      manifestJson: canonicalBytes(manifest),
      status: r.status,
      exitCode: r.exitCode,
      stdout: r.stdout,
      stderr: r.stderr,
      receiptJson: r.receiptJson,
      executor: -1,
      peerId: r.peerId
    }
  }
}
