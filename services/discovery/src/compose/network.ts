/**
 * The node on the network (p2p.enabled): the libp2p host serving the job and capability
 * protocols, with the caps peers are told and held to. libp2p and its transports are most of
 * discovery's code: they are loaded only by a node that goes on the network.
 */
import { messageBudget } from '@phase-network/protocol'
import type { PrivateKey } from '@libp2p/interface'
import type { NodeConfig, Logger } from '@phase-network/process'
import { UnavailableError, type CapabilityRecord } from '@phase-network/protocol'
import type { FoundExecutor, NetworkComponents, PeerSummary, PhaseNetwork, Requirements } from '../p2p/index.ts'
import { P2P_OPTIONAL_PACKAGES, P2P_PACKAGES, loadStepwise } from '../p2p/packages.ts'
import { once, type Part } from './parts.ts'

export interface NetworkPartComponents {
  logger: Logger
  privateKey: PrivateKey
  jobs: NetworkComponents['jobs']
  modules: NetworkComponents['modules']
  /** The node's receipt public key (the signer's). */
  receiptKey: () => Promise<string>
  runtime: () => Promise<{ name: string, version: string }>
}

export type NetworkConfig = Pick<NodeConfig, 'p2p' | 'limits' | 'remote' | 'stateDir'>

/**
 * The network as the rest of discovery sees it: the host once it has started, and until then
 * answers that say so (no peers, no counts, no capability record; a remote job, a lookup or the
 * network's report refused as UNAVAILABLE). Lets the public API open, and local jobs run, while
 * libp2p loads and starts (issue 11: start-up): most of discovery's start with p2p on.
 */
export interface LateNetwork extends Pick<PhaseNetwork, 'runRemote' | 'pickPeers' | 'reportReplicas' | 'counters' | 'load' | 'diagnose' | 'addresses'> {
  /** The node's signed capability record; undefined until the host runs. */
  capability: () => Promise<CapabilityRecord | undefined>
  /** The host once started, else undefined. */
  readonly current: PhaseNetwork | undefined
}

export interface NetworkPart extends Part {
  /** The network (late: see LateNetwork), or undefined when p2p is off. */
  network: LateNetwork | undefined
  /** Loads libp2p and starts the host (once); when p2p is off, resolves at once. */
  start: () => Promise<void>
  /** Connected peers (GetPeers); UNAVAILABLE when p2p is off or still starting. */
  peers: () => Promise<PeerSummary[]>
  /** Executors found through the DHT (FindExecutors); UNAVAILABLE when p2p is off or still starting. */
  findExecutors: (req: Requirements, options: { limit: number, signal: AbortSignal }) => Promise<FoundExecutor[]>
}

const NO_COUNTERS: ReturnType<PhaseNetwork['counters']> = { peers: 0, jobsIn: 0, jobsRefused: 0, jobsOut: 0, jobsOutFailed: 0, receiptsRefused: 0, dhtRefused: 0 }
const NO_LOAD: ReturnType<PhaseNetwork['load']> = { streams: 0, remoteJobs: 0, inflightBytes: 0, capabilities: 0, history: 0, providerRecords: 0, peerStoreEntries: 0, dhtBytes: 0, peerStoreBytes: 0, peersCutOff: 0 }

/**
 * The network part, not started: `start()` loads libp2p and starts the host, and only then do
 * the network's answers come from it. Stopping stops the host, also one still starting.
 */
export function networkPart (components: NetworkPartComponents, config: NetworkConfig): NetworkPart {
  if (!config.p2p.enabled) {
    const off = async (): Promise<never> => { throw new UnavailableError('this node is not on the network (p2p.enabled is false)') }
    return { network: undefined, start: async () => {}, peers: off, findExecutors: off, stop: async () => {} }
  }
  let host: PhaseNetwork | undefined
  let current: PhaseNetwork | undefined
  let stopped = false
  const on = (): PhaseNetwork => {
    if (current === undefined) throw new UnavailableError(stopped ? 'the p2p host is stopped' : 'this node is still joining the network (p2p is starting); try again in a moment')
    return current
  }
  const start = once(async () => {
    const made = await createNetwork(components, config)
    if (stopped) return
    host = made
    await made.start()
    // Stopped while it started: stop() has stopped it (or will); it never becomes current.
    if (!stopped) current = made
  })
  const network: LateNetwork = {
    get current () { return current },
    runRemote: async (...args) => await on().runRemote(...args),
    pickPeers: async (...args) => await on().pickPeers(...args),
    reportReplicas: (disagreeing) => { current?.reportReplicas(disagreeing) },
    counters: () => current?.counters() ?? { ...NO_COUNTERS },
    load: () => current?.load() ?? { ...NO_LOAD },
    diagnose: async (options) => await on().diagnose(options),
    addresses: () => current?.addresses() ?? [],
    capability: async () => await current?.capability()
  }
  return {
    network,
    start,
    peers: async () => await on().peers(),
    findExecutors: async (req, options) => await on().findExecutors(req, options),
    stop: once(async () => {
      stopped = true
      current = undefined
      // A start under way ends first (its host then exists or never will), so nothing is left running.
      await start.peek()?.catch(() => {})
      await host?.stop()
    })
  }
}

/** The packages the p2p part will load with `config`, in the order to load them (p2p/packages.ts). */
export function p2pPackages (p2p: NetworkConfig['p2p']): string[] {
  const optional = [
    p2p.bootstrap.length > 0 ? P2P_OPTIONAL_PACKAGES.bootstrap : undefined,
    p2p.mdns ? P2P_OPTIONAL_PACKAGES.mdns : undefined,
    p2p.upnp ? P2P_OPTIONAL_PACKAGES.upnp : undefined
  ]
  return [...P2P_PACKAGES, ...optional.filter((name) => name !== undefined)]
}

async function createNetwork (components: NetworkPartComponents, config: NetworkConfig): Promise<PhaseNetwork> {
  const p2p = config.p2p
  // Package by package, each in a turn of its own: the public API is open and local jobs are
  // served between them (one import of the whole part held the event loop ~250 ms).
  await loadStepwise(p2pPackages(p2p), async (name) => await import(name))
  const { PhaseNetwork } = await import('../p2p/index.ts')
  return new PhaseNetwork({
    logger: components.logger,
    privateKey: components.privateKey,
    jobs: components.jobs,
    modules: components.modules,
    receiptKey: components.receiptKey,
    runtime: components.runtime
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
    limits: { ...config.limits, maxTimeoutMs: config.remote.maxTimeoutMs, maxMemoryMb: config.remote.maxMemoryMb },
    readTimeoutMs: p2p.readTimeoutMs,
    maxInflightBytes: p2p.maxInflightBytes,
    // A remote job's input files: the same per-job cap as a local one (limits.max_input_bytes).
    maxInputBytes: config.limits.maxInputBytes,
    maxMessageBytes: messageBudget(config.limits).peerRequest,
    maxResultBytes: messageBudget(config.limits).peerResult,
    // Peer reputation survives restarts (<state>/reputation.json).
    stateDir: config.stateDir
  })
}
