/**
 * The node on the network: a libp2p host that serves `/phase/job/{2.0.0,1.0.0}` and
 * `/phase/capability/1.0.0`, finds executors through the DHT, and runs jobs on other nodes with
 * their receipts checked against the key bound to the PeerId it dialed. A receipt that fails a
 * check is an error, never a result.
 *
 * The door of the p2p folder: code outside it imports only from here. Behind it: network.ts
 * (host lifecycle), remote-jobs.ts (peer choice, fail-over, receipt checks), peer-book.ts
 * (liveness), reputation.ts (scores from what this node verified), capability-cache.ts, own-capability.ts,
 * announcer.ts (provider records), the job protocols and their inbound bounds.
 */
import type { PrivateKey } from '@libp2p/interface'
import type { CapabilityRecord, Manifest } from '@phase-network/protocol'
import type { LimitsConfig, Logger } from '@phase-network/process'
import type { JobRunner } from '../jobs.ts'
import type { HostInit } from './host.ts'
import type { Requirements } from './providers.ts'
import type { FoundExecutor } from './find-executors.ts'
import type { RemoteOutcome, RemoteRunOptions } from './remote-jobs.ts'
import type { PeerReputation } from './reputation.ts'
import { PhaseNetwork } from './network.ts'

export { PhaseNetwork, LOOKUP_MS, SETTLE_MS, CHECK_MS } from './network.ts'
export { optionalParts } from './host.ts'
export { JOB_PROTOCOL, CAPABILITY_PROTOCOL, type RemoteResult } from './job-protocol.ts'
export { JOB_PROTOCOL_2 } from './job-protocol-2.ts'
export { DEFAULT_READ_TIMEOUT_MS, DEFAULT_MAX_INFLIGHT_BYTES } from './message-caps.ts'
export type { NetworkReport } from './diagnostics.ts'
import type { NetworkReport } from './diagnostics.ts'
export { fromReceipt, type RemoteOutcome, type RemoteRunOptions } from './remote-jobs.ts'
export type { CapabilityRecord } from '@phase-network/protocol'
export type { FoundExecutor } from './find-executors.ts'
export type { Requirements } from './providers.ts'
export type { PeerReputation } from './reputation.ts'

export interface NetworkComponents {
  logger: Logger
  /** The node's libp2p key: its PeerId, and the key its capability record is signed with. */
  privateKey: PrivateKey
  jobs: Pick<JobRunner, 'run' | 'running'>
  modules: { has: (hash: string) => boolean }
  receiptKey: () => Promise<string>
  runtime: () => Promise<{ name: string, version: string }>
  /** The clock of reputation decay, ms since the epoch (tests). Default: Date.now. */
  now?: () => number
  /** Uniform in [0, 1), for reputation's exploration share (tests). Default: Math.random. */
  random?: () => number
}

export interface NetworkInit extends Omit<HostInit, 'privateKey'> {
  /** The limits peers' jobs get here (announced in the capability record). */
  limits: LimitsConfig
  /** Largest message a peer may send (messageBudget(limits).peerRequest). */
  maxMessageBytes: number
  /** Remote jobs run here at once; more are refused with queue_full. */
  maxRemoteJobs: number
  /** Jobs of one peer running here at once. */
  perPeerConcurrency: number
  /** Jobs one peer may send per second (burst: two seconds' worth). */
  perPeerPerSecond: number
  /** Longest wait for each message of a peer on a job stream, ms. Default: DEFAULT_READ_TIMEOUT_MS (10000). */
  readTimeoutMs?: number
  /** Largest result read from a peer. Default: maxMessageBytes. */
  maxResultBytes?: number
  /** Bytes received from peers and not yet done with, all peers together. Default: DEFAULT_MAX_INFLIGHT_BYTES (256 MiB; at least 2 × maxMessageBytes). */
  maxInflightBytes?: number
  /** Longest DHT lookup of FindExecutors, ms; found executors are returned at the deadline. Default: LOOKUP_MS (3000). */
  lookupTimeoutMs?: number
  /** Bytes of input files one remote job may send here. Default: DEFAULT_MAX_INPUT_BYTES (64 MiB). */
  maxInputBytes?: number
  /** The node's state dir: peer reputation is kept there (reputation.json) across restarts. Default: none (kept in memory). */
  stateDir?: string
}

/** One connected peer as `phase peers` shows it. */
export interface PeerSummary {
  peerId: string
  addresses: string[]
  transport: string
  latencyMs: number | null
  jobProtocol: boolean
  receiptPublicKey: string | null
  runtimes: string[]
  /** Remote jobs that came back verified from this peer, and that did not (all time). */
  successes: number
  failures: number
  /** Its standing from what this node verified (reputation.ts). */
  reputation: PeerReputation
  /** What the peer announced through identify: its text, untrusted (capped here, escaped on output). */
  agentVersion: string
}

/** The node on the network, as the rest of discovery uses it. */
export interface Network {
  readonly peerId: string
  addresses: () => string[]
  /** Starts the host and serves the Phase protocols; safe to call twice. */
  start: () => Promise<void>
  /** Stops the host; safe to call twice. */
  stop: () => Promise<void>
  load: PhaseNetwork['load']
  counters: PhaseNetwork['counters']
  findExecutors: (req: Requirements, options?: { limit?: number, signal?: AbortSignal }) => Promise<FoundExecutor[]>
  capability: () => Promise<CapabilityRecord>
  dial: (address: string) => Promise<string>
  peers: () => Promise<PeerSummary[]>
  runRemote: (manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: RemoteRunOptions) => Promise<RemoteOutcome>
  pickPeers: (count: number, exclude?: ReadonlySet<string>) => Promise<string[]>
  /** Peers in the minority of a replicated job (their reputation pays for it). */
  reportReplicas: (disagreeing: readonly string[]) => void
  /** What `phase doctor` reports of the network (diagnostics.ts). */
  diagnose: (options?: { signal?: AbortSignal }) => Promise<NetworkReport>
}

/** The node's network part, not started yet. */
export function createNetwork (components: NetworkComponents, init: NetworkInit): Network {
  return new PhaseNetwork(components, init)
}
