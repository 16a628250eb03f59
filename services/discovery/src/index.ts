/**
 * The discovery process: the node's face. Today it owns the node identity, the public local
 * API (gRPC on a unix socket, JSON over HTTP on localhost) and job routing to the local
 * executors and the signer; the libp2p host joins it with the network.
 */
import { join } from 'node:path'
import { chmod } from 'node:fs/promises'
import { NodeService } from '@phase-network/rpc/node/v1'
import { ExecutorService } from '@phase-network/rpc/executor/v1'
import { GrpcServer, createGrpcClient } from '@phase-network/rpc'
import type { NodeConfig } from '@phase-network/process'
import { executorMessageBytes, internalAddresses, publicMessageBytes } from '@phase-network/process'
import type { Logger } from '@phase-network/process'
import { loadOrCreateIdentity } from './identity.ts'
import { InputStore, ModuleStore } from './module-store.ts'
import { ExecutorSet } from './executors.ts'
import { SignerClient } from './signer-client.ts'
import { JobRunner } from './jobs.ts'
import { ReplayGuard, loadSignedJobIds } from './replay-guard.ts'
import { createNodeService } from './node-service.ts'
import { HttpApi } from './http-api.ts'
import { JobRouter } from './router.ts'
import type { PhaseNetwork, PeerSummary, FoundExecutor } from './p2p/index.ts'
import type { Requirements } from './p2p/providers.ts'
import { UnavailableError } from '@phase-network/protocol'
import { VERSION, processInfo } from '@phase-network/rpc'
import { NodeMetrics } from './metrics.ts'
import { Intake } from '@phase-network/rpc'
import { nodeStatusJson, type NodeStatus, type NodeProcessStatus } from './status.ts'

export { JobRunner } from './jobs.ts'
export { ExecutorSet } from './executors.ts'
export { InputStore, ModuleStore } from './module-store.ts'

export { VERSION }
export { nodeStatusJson, type NodeStatus, type NodeProcessStatus } from './status.ts'
export const IDENTITY_FILE = 'identity.key'
/** Job ids remembered against replay (the newest first; the signer's log backs older ones). */
const REPLAY_WINDOW = 100_000
/** How long start-up waits for the signer's list of signed job ids before going on without it. */
const REPLAY_LOAD_MS = 5000

/** Mode of the public API sockets (gRPC and HTTP): the node's user and group. */
export const PUBLIC_SOCKET_MODE = 0o660

/** What GetNodeInfo and GET /v1/node report. */
export interface NodeInfo {
  peerId: string
  receiptPublicKey: string
  version: string
  executors: number
  runtimeName: string
  runtimeVersion: string
  network: ReturnType<PhaseNetwork['counters']> | undefined
}

export interface DiscoveryComponents {
  logger: Logger
}

/** Bound addresses after start(). */
export interface DiscoveryAddresses {
  grpc: string
  http: string | null
}

export class DiscoveryNode {
  private readonly config: NodeConfig
  private readonly log: Logger
  private readonly server: GrpcServer
  private readonly modules: ModuleStore
  private readonly inputs: InputStore
  private executors: ExecutorSet | undefined
  private signer: SignerClient | undefined
  private http: HttpApi | undefined
  private network: PhaseNetwork | undefined
  readonly metrics = new NodeMetrics()
  /** One budget of buffered request bytes (and one clock per request) for both API faces. */
  private readonly intake: Intake
  private started: Promise<DiscoveryAddresses> | undefined
  private stopped: Promise<void> | undefined

  constructor (components: DiscoveryComponents, config: NodeConfig) {
    this.config = config
    this.log = components.logger
    const api = config.api
    this.intake = new Intake({ maxBufferedBytes: api.maxBufferedBytes, minBytesPerSecond: api.minBytesPerSecond, graceMs: api.bodyGraceMs, timeoutMs: api.requestTimeoutMs })
    // The public API takes a module, input files and a manifest; allow their caps plus room for
    // the rest (never more than the whole budget: such a message could never be taken).
    this.server = new GrpcServer({ logger: this.log.child({ component: 'grpc' }) }, {
      maxMessageBytes: Math.min(api.maxBufferedBytes, publicMessageBytes(config.limits)),
      reflection: true,
      intake: this.intake,
      // Connections with no call are closed after two minutes; dead peers are found by pings.
      idleConnectionMs: 120_000,
      keepaliveMs: 60_000,
      maxConcurrentStreams: 256
    })
    this.modules = new ModuleStore({ logger: this.log }, { dir: join(config.stateDir, 'modules'), memoryBytes: config.moduleCache.memoryBytes, diskBytes: config.moduleCache.diskBytes })
    this.inputs = new InputStore({ logger: this.log }, { dir: join(config.stateDir, 'inputs'), memoryBytes: config.inputCache.memoryBytes, diskBytes: config.inputCache.diskBytes })
  }

  async start (): Promise<DiscoveryAddresses> {
    this.started ??= this.doStart()
    return await this.started
  }

  private async doStart (): Promise<DiscoveryAddresses> {
    const identity = await loadOrCreateIdentity(join(this.config.stateDir, IDENTITY_FILE), { logger: this.log })
    const peerId = identity.peerId.toString()
    await this.modules.start()
    await this.inputs.start()
    const addresses = internalAddresses(this.config)
    const messageBytes = executorMessageBytes(this.config.limits)
    this.executors = new ExecutorSet({ logger: this.log.child({ component: 'executors' }) }, { addresses: addresses.executors, maxMessageBytes: messageBytes, quarantineMs: this.config.poisonQuarantineMs })
    const executors = this.executors
    executors.watch({ runtimeDir: this.config.runtimeDir, onRestart: (index) => this.metrics.executorRestarted(index) })
    this.signer = new SignerClient(addresses.signer)
    const replays = new ReplayGuard(REPLAY_WINDOW)
    await this.restoreReplays(replays, this.signer)
    const perExecutor = this.config.workersPerExecutor + this.config.queueCapacity
    const jobs = new JobRunner({ executors, modules: this.modules, inputs: this.inputs, signer: this.signer, replays, logger: this.log.child({ component: 'jobs' }), metrics: this.metrics, runtime: async () => ({ name: (await info()).runtimeName }) }, {
      limits: this.config.limits,
      peerId,
      maxInFlight: () => Math.max(1, executors.size) * perExecutor,
      remote: {
        maxTimeoutMs: this.config.remote.maxTimeoutMs,
        maxMemoryMb: this.config.remote.maxMemoryMb,
        maxJobs: () => remoteSlots(this.config, executors.size)
      }
    })
    const executorClient = createGrpcClient(ExecutorService, addresses.executors[0]!, { timeoutMs: 2000 })
    let runtime: { name: string, version: string } | undefined
    const info = async (): Promise<NodeInfo> => {
      if (runtime === undefined) {
        const s = await executorClient.getStatus({})
        runtime = { name: s.runtimeName, version: s.runtimeVersion }
      }
      return { peerId, receiptPublicKey: await this.signer!.publicKey(), version: VERSION, executors: executors.size, runtimeName: runtime.name, runtimeVersion: runtime.version, network: this.network?.counters() }
    }
    this.closeInfo = () => executorClient.close()
    const p2p = this.config.p2p
    if (p2p.enabled) {
      // libp2p and its transports are most of discovery's code: loaded only by a node on the network.
      const { PhaseNetwork, jobMessageBytes, jobResultBytes } = await import('./p2p/index.ts')
      this.network = new PhaseNetwork({
        logger: this.log.child({ component: 'p2p' }),
        privateKey: identity.privateKey,
        jobs,
        modules: this.modules,
        receiptKey: async () => await this.signer!.publicKey(),
        runtime: async () => { const i = await info(); return { name: i.runtimeName, version: i.runtimeVersion } }
      }, {
        listen: p2p.listen,
        bootstrap: p2p.bootstrap,
        mdns: p2p.mdns,
        relayServer: p2p.relayServer,
        upnp: p2p.upnp,
        privateAddresses: p2p.privateAddresses,
        maxConnections: p2p.maxConnections,
        inboundPerSecond: p2p.inboundPerSecond,
        maxRemoteJobs: p2p.maxRemoteJobs,
        perPeerConcurrency: p2p.perPeerConcurrency,
        perPeerPerSecond: p2p.perPeerPerSecond,
        // Peers are told the caps their jobs get here: the remote ones.
        limits: { ...this.config.limits, maxTimeoutMs: this.config.remote.maxTimeoutMs, maxMemoryMb: this.config.remote.maxMemoryMb },
        readTimeoutMs: p2p.readTimeoutMs,
        maxInflightBytes: p2p.maxInflightBytes,
        // A remote job's input files: the same per-job cap as a local one (limits.max_input_bytes).
        maxInputBytes: this.config.limits.maxInputBytes,
        maxMessageBytes: jobMessageBytes(this.config.limits),
        maxResultBytes: jobResultBytes(this.config.limits)
      })
      await this.network.start()
    }
    const router = new JobRouter({ jobs, modules: this.modules, inputs: this.inputs, network: this.network }, { peerId, limits: this.config.limits })
    const peers = async (): Promise<PeerSummary[]> => {
      if (this.network === undefined) throw new UnavailableError('this node is not on the network (p2p.enabled is false)')
      return await this.network.peers()
    }
    const findExecutors = async (req: Requirements, options: { limit: number, signal: AbortSignal }): Promise<FoundExecutor[]> => {
      if (this.network === undefined) throw new UnavailableError('this node is not on the network (p2p.enabled is false)')
      return await this.network.findExecutors(req, options)
    }
    const network = (): PhaseNetwork | undefined => this.network
    this.metrics.bind({
      jobsInFlight: () => jobs.running,
      queueDepth: () => executors.queueDepth(),
      executors: () => executors.views(),
      peers: () => network()?.counters().peers,
      network: () => network()?.counters(),
      peerLoad: () => network()?.load()
    })
    const signer = this.signer
    const status = async (): Promise<NodeStatus> => {
      const signerStatus = await signer.status().catch(() => undefined)
      const byStatus = await this.metrics.jobsByStatus()
      const self = processInfo() as NonNullable<NodeProcessStatus['process']>
      return {
        peerId,
        version: VERSION,
        processes: [
          { name: 'discovery', index: 0, state: 'up', process: self, running: jobs.running, queued: 0, completed: BigInt(Object.values(byStatus).reduce((a, b) => a + b, 0)), restarts: self.restarts },
          { name: 'signer', index: 0, state: signerStatus === undefined ? 'down' : 'up', process: signerStatus?.process, running: 0, queued: 0, completed: signerStatus?.signedReceipts ?? 0n, restarts: signerStatus?.process?.restarts ?? 0 },
          ...executors.views().map((e): NodeProcessStatus => ({
            name: 'executor', index: e.index, state: e.state, process: e.up ? e.status?.process : undefined,
            running: e.status?.running ?? 0, queued: e.status?.queued ?? 0, completed: e.status?.completedJobs ?? 0n,
            // pm2's count survives a restart of discovery; discovery's own (new pids seen) covers runs without pm2.
            restarts: Math.max(e.status?.process?.restarts ?? 0, e.restarts)
          }))
        ],
        jobsInFlight: jobs.running,
        queueDepth: executors.queueDepth(),
        peers: network()?.counters().peers ?? 0,
        p2pEnabled: network() !== undefined,
        jobsByStatus: Object.fromEntries(Object.entries(byStatus).map(([k, v]) => [k, BigInt(v)]))
      }
    }
    this.server.add(NodeService, createNodeService({ jobs: router, modules: this.modules, inputs: this.inputs, info, peers, findExecutors, status }, { token: this.config.api.token }))
    const grpc = await this.server.start(this.config.api.grpc)
    // The public API socket is for the node's group (the package's 'phase' group); the internal
    // sockets stay owner-only under the service's umask, since the signer signs what it is given.
    if (grpc.startsWith('unix:')) await chmod(grpc.slice('unix:'.length), PUBLIC_SOCKET_MODE)
    let http: string | null = null
    if (this.config.api.http.enabled) {
      this.http = new HttpApi({ jobs: router, modules: this.modules, inputs: this.inputs, info, status: async () => nodeStatusJson(await status()), metrics: async () => await this.metrics.text(), logger: this.log.child({ component: 'http' }) }, {
        host: this.config.api.http.host,
        port: this.config.api.http.port,
        tcp: this.config.api.http.tcp,
        allowedHosts: this.config.api.http.allowedHosts,
        socket: this.config.api.http.socket,
        token: this.config.api.token,
        // A module and input files as base64 plus the manifest, within the whole budget (bigger
        // input files go alone, raw: PUT /v1/blobs/<hash>).
        maxBodyBytes: Math.min(this.config.api.maxBufferedBytes, Math.ceil(publicMessageBytes(this.config.limits) * 4 / 3)),
        maxInputFileBytes: this.config.limits.maxInputFileBytes,
        intake: this.intake,
        headersTimeoutMs: this.config.api.headersTimeoutMs,
        requestTimeoutMs: this.config.api.requestTimeoutMs,
        maxConnections: this.config.api.maxConnections
      })
      http = await this.http.start()
      await chmod(this.config.api.http.socket, PUBLIC_SOCKET_MODE)
    }
    this.log.info({ peerId, grpc, http, executors: this.config.executors, p2p: this.network?.addresses() ?? [] }, 'discovery ready')
    return { grpc, http }
  }

  private closeInfo: () => void = () => {}
  private replayRetry: NodeJS.Timeout | undefined

  /**
   * Loads the job ids of the signer's receipt log into the replay guard, so a restart does not
   * run (and try to sign) a job id again. While the signer is down it retries in the background;
   * meanwhile the signer itself still refuses a second receipt for a logged job id.
   */
  private async restoreReplays (guard: ReplayGuard, signer: SignerClient): Promise<void> {
    const attempt = async (): Promise<void> => {
      const n = await loadSignedJobIds(guard, signer, { signal: AbortSignal.timeout(REPLAY_LOAD_MS) })
      this.log.info({ jobIds: n }, 'replay guard loaded from the receipt log')
    }
    try {
      await attempt()
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot load signed job ids from the signer yet; retrying')
      this.replayRetry = setInterval(() => { attempt().then(() => clearInterval(this.replayRetry), () => {}) }, 2000)
      this.replayRetry.unref()
    }
  }

  async stop (): Promise<void> {
    this.stopped ??= (async () => {
      await this.started?.catch(() => {})
      clearInterval(this.replayRetry)
      await Promise.all([this.server.stop(), this.http?.stop()])
      await this.network?.stop()
      this.executors?.close()
      this.signer?.close()
      this.closeInfo()
      this.intake.close()
    })()
    await this.stopped
  }
}

/**
 * Remote jobs running at once: a share of the workers (not of the queues), so a remote job
 * holds no worker a local job needs; at least one unless the share is 0 (a node with a single
 * worker then lets one remote job hold it for up to remote.max_timeout_ms).
 */
export function remoteSlots (config: Pick<NodeConfig, 'remote' | 'workersPerExecutor'>, executors: number): number {
  const share = config.remote.executorShare
  if (share === 0 || config.remote.maxJobs === 0) return 0
  return Math.min(config.remote.maxJobs, Math.max(1, Math.floor(executors * config.workersPerExecutor * share + 1e-9)))
}

export function createDiscovery (components: DiscoveryComponents, config: NodeConfig): DiscoveryNode {
  return new DiscoveryNode(components, config)
}
