/**
 * The node on the network (p2p.enabled): the libp2p host serving the job and capability
 * protocols, with the caps peers are told and held to. libp2p and its transports are most of
 * discovery's code: they are loaded only by a node that goes on the network.
 */
import { messageBudget } from '@phase-network/protocol'
import type { PrivateKey } from '@libp2p/interface'
import type { NodeConfig, Logger } from '@phase-network/process'
import { UnavailableError } from '@phase-network/protocol'
import type { FoundExecutor, NetworkComponents, PeerSummary, PhaseNetwork, Requirements } from '../p2p/index.ts'
import { startParts, type Part } from './parts.ts'

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

export interface NetworkPart extends Part {
  /** The host, or undefined when p2p is off. */
  network: PhaseNetwork | undefined
  /** Connected peers (GetPeers); UNAVAILABLE when p2p is off. */
  peers: () => Promise<PeerSummary[]>
  /** Executors found through the DHT (FindExecutors); UNAVAILABLE when p2p is off. */
  findExecutors: (req: Requirements, options: { limit: number, signal: AbortSignal }) => Promise<FoundExecutor[]>
}

/** Starts the libp2p host when p2p is enabled; otherwise a part whose queries answer UNAVAILABLE. */
export async function startNetwork (components: NetworkPartComponents, config: NetworkConfig): Promise<NetworkPart> {
  return await startParts(async (add) => {
    const network = config.p2p.enabled ? add(await createNetwork(components, config)) : undefined
    await network?.start()
    const on = (): PhaseNetwork => {
      if (network === undefined) throw new UnavailableError('this node is not on the network (p2p.enabled is false)')
      return network
    }
    return {
      network,
      peers: async () => await on().peers(),
      findExecutors: async (req, options) => await on().findExecutors(req, options)
    }
  })
}

async function createNetwork (components: NetworkPartComponents, config: NetworkConfig): Promise<PhaseNetwork> {
  const { PhaseNetwork } = await import('../p2p/index.ts')
  const p2p = config.p2p
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
