/**
 * The public gRPC API (phase.node.v1.NodeService) as plain async functions over the job runner.
 */
import type { NodeService } from '@phase-network/rpc/node/v1'
import type { ServiceImpl } from '@phase-network/rpc'
import { checkToken } from './auth.ts'
import { canonicalBytes } from '@phase-network/protocol'
import type { JobRouter } from './router.ts'
import type { PeerSummary, FoundExecutor, Requirements } from './p2p/index.ts'
import type { NodeInfo } from './compose/node-info.ts'
import type { NodeStatus } from './status.ts'
import type { DoctorReport } from './doctor.ts'
import { InvalidArgumentError, UnavailableError } from '@phase-network/protocol'

/** Executors FindExecutors returns when the caller names no limit, and at most. */
export const FIND_DEFAULT_LIMIT = 20
export const FIND_MAX_LIMIT = 200

/** Most hashes one HasInputs call may name: a manifest's most input files. */
export const MAX_HAS_INPUTS = 256
const HASH = /^sha256:[0-9a-f]{64}$/

export interface NodeServiceComponents {
  jobs: Pick<JobRouter, 'run'>
  peers: () => Promise<PeerSummary[]>
  findExecutors: (req: Requirements, options: { limit: number, signal: AbortSignal }) => Promise<FoundExecutor[]>
  modules: { has: (hash: string) => boolean }
  /** Input files cached by hash. Default: none. */
  inputs?: { has: (hash: string) => boolean }
  info: () => Promise<NodeInfo>
  status: () => Promise<NodeStatus>
  /** The doctor report (doctor.ts). */
  diagnose?: (options: { signal: AbortSignal }) => Promise<DoctorReport>
}

export interface NodeServiceInit {
  /** When set, every call must carry `authorization: Bearer <token>`. */
  token: string | null
}

/**
 * Canonical JSON of the capability records answers carry, by record: every job's answer carries
 * the record of the node that ran it, which changes only when it is renewed (a new object), and
 * canonicalizing it cost each job ~0.03 ms. Weak: a record dropped from its cache goes too.
 */
const capabilityBytes = new WeakMap<object, Uint8Array>()
export function capabilityJson (record: object): Uint8Array {
  let bytes = capabilityBytes.get(record)
  if (bytes === undefined) {
    bytes = canonicalBytes(record)
    capabilityBytes.set(record, bytes)
  }
  return bytes
}

export function createNodeService (c: NodeServiceComponents, init: NodeServiceInit): ServiceImpl<typeof NodeService> {
  const authorize = (metadata: ReadonlyMap<string, string>): void => checkToken(metadata.get('authorization'), init.token)
  return {
    async submitJob (request, ctx) {
      authorize(ctx.metadata)
      const result = await c.jobs.run({ manifest: request.manifestJson, module: request.module, inputs: request.inputs, target: request.target, peerId: request.peerId, replicas: request.replicas }, { signal: ctx.signal })
      return {
        jobId: result.jobId,
        manifestJson: result.manifestJson,
        status: result.status,
        exitCode: BigInt(result.exitCode),
        stdout: result.stdout,
        stderr: result.stderr,
        receiptJson: result.receiptJson,
        peerId: result.peerId,
        replicas: (result.replicas ?? []).map(({ capability, ...r }) => ({ ...r, exitCode: BigInt(r.exitCode), capabilityJson: capability === undefined ? undefined : canonicalBytes(capability) })),
        agreeing: result.agreeing ?? 0,
        capabilityJson: result.capability === undefined ? undefined : capabilityJson(result.capability),
        outputs: result.outputs ?? []
      }
    },
    async hasInputs (request, ctx) {
      authorize(ctx.metadata)
      if (request.hashes.length > MAX_HAS_INPUTS) throw new InvalidArgumentError(`HasInputs takes at most ${MAX_HAS_INPUTS} hashes`)
      for (const h of request.hashes) if (!HASH.test(h)) throw new InvalidArgumentError(`not a sha256:<hex> hash: '${h.slice(0, 80)}'`)
      return { missing: request.hashes.filter((h) => c.inputs?.has(h) !== true) }
    },
    async diagnose (_request, ctx) {
      authorize(ctx.metadata)
      if (c.diagnose === undefined) throw new UnavailableError('this node has no doctor')
      return { reportJson: new TextEncoder().encode(JSON.stringify(await c.diagnose({ signal: ctx.signal }))) }
    },
    async hasModule (request, ctx) {
      authorize(ctx.metadata)
      return { cached: c.modules.has(request.moduleHash) }
    },
    async listPeers (_request, ctx) {
      authorize(ctx.metadata)
      const peers = await c.peers()
      return {
        peers: peers.map(({ reputation: r, ...p }) => ({
          ...p,
          latencyMs: p.latencyMs ?? 0,
          runsJobs: p.jobProtocol,
          receiptPublicKey: p.receiptPublicKey ?? '',
          reputation: { score: r.score, receiptsVerified: r.receiptsVerified, receiptsRefused: r.receiptsRefused, replicaDisagreements: r.disagreements, failures: r.failures, refusals: r.refusals }
        }))
      }
    },
    async findExecutors (request, ctx) {
      authorize(ctx.metadata)
      const started = performance.now()
      const found = await c.findExecutors({
        runtime: request.runtime,
        arch: request.arch,
        min_memory_mb: request.minMemoryMb,
        min_cores: request.minCores
      }, { limit: request.limit === 0 ? FIND_DEFAULT_LIMIT : Math.min(request.limit, FIND_MAX_LIMIT), signal: ctx.signal })
      return {
        lookupMs: performance.now() - started,
        executors: found.map(({ peerId, record }) => ({
          peerId,
          receiptPublicKey: record.receipt_public_key,
          runtimes: record.runtimes.map((r) => `${r.name}@${r.version}`),
          arch: record.arch,
          cores: record.cores,
          maxMemoryMb: record.limits.max_memory_mb,
          queueDepth: record.queue_depth
        }))
      }
    },
    async getNodeStatus (_request, ctx) {
      authorize(ctx.metadata)
      return await c.status()
    },
    async getNodeInfo (_request, ctx) {
      authorize(ctx.metadata)
      const info = await c.info()
      const n = info.network
      return {
        ...info,
        network: n === undefined
          ? {}
          : { peers: n.peers, jobsIn: BigInt(n.jobsIn), jobsRefused: BigInt(n.jobsRefused), jobsOut: BigInt(n.jobsOut), jobsOutFailed: BigInt(n.jobsOutFailed), receiptsRefused: BigInt(n.receiptsRefused) }
      }
    }
  }
}
