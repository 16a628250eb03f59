/**
 * PhaseNetwork: the libp2p host's lifecycle and what hangs on it. `start()` creates the host,
 * serves `/phase/job/{2.0.0,1.0.0}` and `/phase/capability/1.0.0` under the node's inbound
 * bounds, and wires the parts that live beside it: the peer book (liveness), the capability
 * cache, the announcer (provider records), the client's job streams and remote jobs (peer
 * choice, fail-over, receipt checks). `stop()` ends them in reverse. Both are safe to call twice.
 */
import type { NetworkReport } from './diagnostics.ts'
import { join } from 'node:path'
import { peerIdOf } from './peer-ids.ts'
import type { PeerId, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { PhaseError, UnavailableError, verifyCapability, type CapabilityRecord, type Manifest } from '@phase-network/protocol'
import { EventLog, type Logger } from '@phase-network/process'
import type { NetworkComponents, NetworkInit, PeerSummary } from './index.ts'
import { createHost, type PhaseLibp2p } from './host.ts'
import { duplicable, keeper } from './connection-dedupe.ts'
import { PeerLimiter } from './peer-limits.ts'
import { capabilityKey, type Requirements } from './providers.ts'
import { JOB_PROTOCOL, CAPABILITY_PROTOCOL, jobStreamHandler, capabilityStreamHandler, fetchCapability, type JobServer } from './job-protocol.ts'
import { JOB_PROTOCOL_2 } from './job-protocol-2.ts'
import { JobStreams } from './job-streams.ts'
import { InboundBudget } from './inbound-budget.ts'
import { PeerBook } from './peer-book.ts'
import { CapabilityCache } from './capability-cache.ts'
import { OwnCapability } from './own-capability.ts'
import { Announcer } from './announcer.ts'
import { Reputation } from './reputation.ts'
import { ReputationFile, REPUTATION_FILE } from './reputation-file.ts'
import { RemoteJobs, type RemoteOutcome, type RemoteRunOptions } from './remote-jobs.ts'
import { findExecutors, type FoundExecutor } from './find-executors.ts'
import { DEFAULT_MAX_INFLIGHT_BYTES, DEFAULT_READ_TIMEOUT_MS } from './message-caps.ts'
import { agentVersionOf, transportOf } from './peer-summary.ts'

/** Longest a FindExecutors lookup walks the DHT, ms (see NetworkInit.lookupTimeoutMs). */
export const LOOKUP_MS = 3000
/** Once an executor is found, how much longer FindExecutors waits for more (DHT, dials), ms. */
export const SETTLE_MS = 100
/** Longest check of one peer in FindExecutors (dial, capability record, ping), ms. */
export const CHECK_MS = 1500
/** Executors FindExecutors returns when the caller names no limit. */
export const DEFAULT_FIND_LIMIT = 20
/** Streams of each Phase protocol one connection may carry at once, each way. */
export const MAX_STREAMS_PER_PROTOCOL = 64
/** The inbound budget holds at least this many of the largest messages (one peer may hold half of it). */
const MESSAGES_IN_BUDGET = 2
/** Reputation changed since the last write goes to disk this often, ms (and at stop). */
export const SAVE_REPUTATION_EVERY_MS = 60_000
/** A 2.0.0 client stream idle for this share of the server's read deadline is closed before reuse (the server would end it soon). */
const IDLE_SHARE_OF_READ_TIMEOUT = 0.5

export class PhaseNetwork {
  private readonly c: NetworkComponents
  private readonly init: NetworkInit
  private readonly log: Logger
  /** A line per period: a client decides how many replicated jobs it sends. */
  private readonly outvoted: EventLog
  private node: PhaseLibp2p | undefined
  private readonly counts = { jobsIn: 0, jobsRefused: 0 }
  private readonly own: OwnCapability
  /** What this node verified of each peer (reputation.ts); on disk under the state dir when there is one. */
  private readonly reputation: Reputation
  private readonly reputationFile: ReputationFile | undefined
  private saver: NodeJS.Timeout | undefined
  private saving: Promise<void> = Promise.resolve()
  private parts: { book: PeerBook, cache: CapabilityCache, announcer: Announcer, budget: InboundBudget, server: JobServer, streams: JobStreams, remote: RemoteJobs, serveCapability: ReturnType<typeof capabilityStreamHandler> } | undefined

  constructor (components: NetworkComponents, init: NetworkInit) {
    this.c = components
    this.init = init
    this.log = components.logger
    this.outvoted = new EventLog(this.log, 'warn', 'peer outvoted in a replicated job')
    this.own = new OwnCapability(components, init)
    this.reputation = new Reputation({ now: components.now, random: components.random })
    this.reputationFile = init.stateDir === undefined ? undefined : new ReputationFile({ logger: this.log }, { path: join(init.stateDir, REPUTATION_FILE) })
  }

  get peerId (): string { return this.node?.peerId.toString() ?? '' }
  addresses (): string[] { return this.node?.getMultiaddrs().map(String) ?? [] }

  async start (): Promise<void> {
    if (this.node !== undefined) return
    if (this.reputationFile !== undefined && this.reputation.size === 0) this.reputation.restore(await this.reputationFile.load())
    const node = this.node = await createHost({ ...this.init, privateKey: this.c.privateKey }, { logger: this.log })
    const announcer = new Announcer({ logger: this.log, connected: () => node.getConnections().length > 0, runtime: this.c.runtime, tableSize: () => this.dhtPeers(), provide: async (key, signal) => { await node.contentRouting.provide(key, { signal }) } })
    // Every growth of the routing table is reported, the join's fills' as any other: the table may
    // also double from peers that contact this node while no fill runs.
    const table = (node.services.dht as unknown as { routingTable: { addEventListener: (type: 'peer:add', fn: () => void) => void } }).routingTable
    table.addEventListener('peer:add', () => { announcer.onJoined() })
    // What is kept of a peer goes with it (a record is fetched again, and checked, if it returns).
    let cache: CapabilityCache | undefined
    const book = new PeerBook({
      connection: (peer) => {
        const open = node.getConnections(peerIdOf(peer)).filter((c) => c.status === 'open')
        return open.length === 0 ? undefined : open.some((c) => c.remoteAddr.toString().includes('/quic')) ? 'live' : 'open'
      },
      ping: async (peer, signal) => await (node.services.ping as { ping: (p: PeerId, o: { signal: AbortSignal }) => Promise<number> }).ping(peerIdOf(peer), { signal }),
      forget: (peer) => { cache?.forget(peer) }
    })
    const readTimeoutMs = this.init.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS
    cache = new CapabilityCache({
      fetch: async (peer, signal) => await fetchCapability(await this.openStream(peerIdOf(peer), CAPABILITY_PROTOCOL, signal), signal, this.init.readTimeoutMs),
      verify: verifyCapability,
      usable: (peer) => book.usable(peer),
      seen: (peer) => { book.seen(peer) }
    })
    // Room for at least MESSAGES_IN_BUDGET of the largest messages, so one peer's large job always fits.
    const budget = new InboundBudget({ maxBytes: Math.max(this.init.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES, MESSAGES_IN_BUDGET * this.init.maxMessageBytes) })
    const limiter = new PeerLimiter({ concurrency: this.init.perPeerConcurrency, perSecond: this.init.perPeerPerSecond })
    const count = (outcome: 'in' | 'refused'): void => { if (outcome === 'in') this.counts.jobsIn++; else this.counts.jobsRefused++ }
    const server = jobStreamHandler({ ...this.c, count }, { maxMessageBytes: this.init.maxMessageBytes, maxInFlight: this.init.maxRemoteJobs, limiter, budget, readTimeoutMs, maxInputBytes: this.init.maxInputBytes })
    const maxResultBytes = this.init.maxResultBytes ?? this.init.maxMessageBytes
    const streams = new JobStreams(async (peer, protocols, signal) => await this.openStream(peer, protocols, signal), { maxMessageBytes: maxResultBytes, readTimeoutMs, idleMs: Math.floor(readTimeoutMs * IDLE_SHARE_OF_READ_TIMEOUT) })
    const remote = new RemoteJobs({
      logger: this.log,
      streams,
      capability: async (peer, signal) => await cache.verified(peer, signal),
      jobPeers: async () => (await this.peers()).filter((p) => p.jobProtocol).map((p) => p.peerId),
      findExecutors: async (req) => await this.findExecutors(req),
      reputation: this.reputation
    })
    const serveCapability = capabilityStreamHandler(async () => await this.capability(), budget, this.log)
    this.parts = { book, cache, announcer, budget, server, streams, remote, serveCapability }
    this.log.info({ maxMessageBytes: this.init.maxMessageBytes, maxResultBytes, maxInflightBytes: budget.maxBytes, maxPeerBytes: budget.maxPeerBytes, readTimeoutMs, maxRemoteJobs: this.init.maxRemoteJobs }, 'job protocol limits')
    // Jobs are small enough for a relayed (limited) connection to a node behind a NAT.
    const opts = { maxInboundStreams: MAX_STREAMS_PER_PROTOCOL, maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL, runOnLimitedConnection: true }
    await node.handle(JOB_PROTOCOL, async (stream, connection) => { await server(stream, connection.remotePeer.toString()) }, opts)
    // 2.0.0 (streams reused, one round trip); 1.0.0 stays served for nodes that predate it.
    await node.handle(JOB_PROTOCOL_2, async (stream, connection) => { await server.v2(stream, connection.remotePeer.toString()) }, opts)
    await node.handle(CAPABILITY_PROTOCOL, async (stream, connection) => { await serveCapability(stream, connection.remotePeer.toString()) }, opts)
    node.addEventListener('peer:connect', (e) => { book.seen(e.detail.toString()); announcer.onConnect() })
    node.addEventListener('peer:disconnect', (e) => { book.gone(e.detail.toString()); streams.drop(e.detail.toString()) })
    announcer.start()
    this.saver = setInterval(() => { void this.saveReputation() }, SAVE_REPUTATION_EVERY_MS)
    this.saver.unref()
    this.log.info({ peerId: this.peerId, addresses: this.addresses() }, 'p2p host listening')
  }

  async stop (): Promise<void> {
    this.parts?.announcer.stop()
    this.parts?.streams.drop()
    clearInterval(this.saver)
    const node = this.node
    this.node = undefined
    try {
      await node?.stop()
    } finally {
      this.parts?.server.close()
      this.parts?.serveCapability.close()
      this.parts?.remote.close()
      this.outvoted.close()
    }
    await this.saveReputation()
  }

  /** Writes the reputation when it changed (one write at a time; a failed one is logged and tried again later). */
  private async saveReputation (): Promise<void> {
    const file = this.reputationFile
    if (file === undefined) return
    this.saving = this.saving.then(async () => {
      if (!this.reputation.dirty) return
      await file.save(this.reputation.snapshot()).catch((err: unknown) => {
        this.reputation.dirty = true
        this.log.warn({ err: (err as Error).message }, 'could not write the reputation file')
      })
    })
    await this.saving
  }

  /**
   * The outcome of a replicated job: `disagreeing` peers were in the minority (validly signed,
   * but not what the others computed). Their reputation pays for it.
   */
  reportReplicas (disagreeing: readonly string[]): void {
    for (const peer of disagreeing) {
      this.reputation.record(peer, 'disagreement')
      this.outvoted.note({ event: 'replica_minority', peer, score: this.reputation.get(peer).score })
    }
  }

  /** What peers hold here now: job streams served, remote jobs holding a slot, bytes in flight, what is kept of peers. */
  load (): { streams: number, remoteJobs: number, inflightBytes: number, capabilities: number, history: number, providerRecords: number, peerStoreEntries: number, dhtBytes: number, peerStoreBytes: number, peersCutOff: number } {
    const store = this.node?.datastore.usage() ?? { dhtBytes: 0, peerStoreBytes: 0, providerRecords: 0, peerStoreEntries: 0 }
    const p = this.parts
    return { streams: p?.server.streams ?? 0, remoteJobs: p?.server.inFlight ?? 0, inflightBytes: p?.budget.inFlight ?? 0, capabilities: p?.cache.size ?? 0, history: this.reputation.size, ...store, peersCutOff: this.node?.dhtBounds.cutOff() ?? 0 }
  }

  /** Counters since start, for GetNodeInfo and metrics. */
  counters (): { peers: number, jobsIn: number, jobsRefused: number, jobsOut: number, jobsOutFailed: number, receiptsRefused: number, dhtRefused: number } {
    const peers = new Set(this.node?.getConnections().map((c) => c.remotePeer.toString()) ?? []).size
    return { peers, ...this.counts, ...(this.parts?.remote.counts ?? { jobsOut: 0, jobsOutFailed: 0, receiptsRefused: 0 }), dhtRefused: this.node?.dhtBounds.refused() ?? 0 }
  }

  /**
   * Nodes that run jobs and meet `req`, found through provider records in the DHT, each
   * checked through its signed capability record; least loaded first (find-executors.ts).
   */
  async findExecutors (req: Requirements, options: { limit?: number, signal?: AbortSignal } = {}): Promise<FoundExecutor[]> {
    const node = this.host()
    const { book, cache } = this.parts!
    // Alone, there is nobody to ask: said at once (kad-dht would wait for a first peer).
    if (node.getConnections().length === 0) throw new UnavailableError('no peer is connected: the DHT has nobody to ask (see p2p.bootstrap)')
    const key = await capabilityKey(req.runtime !== undefined && req.runtime !== '' ? `runtime:${req.runtime}` : 'executor')
    return await findExecutors({
      self: this.peerId,
      connectedExecutors: async () => await this.parts!.remote.pick(Infinity),
      providers: (signal) => node.contentRouting.findProviders(key, { signal }),
      learn: async (p) => { await node.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }) },
      capability: async (peer, signal) => await cache.verified(peer, signal),
      book,
      dhtPeers: () => this.dhtPeers()
    }, req, { limit: options.limit ?? DEFAULT_FIND_LIMIT, lookupMs: this.init.lookupTimeoutMs ?? LOOKUP_MS, settleMs: SETTLE_MS, checkMs: CHECK_MS, signal: options.signal })
  }

  /** Peers in the DHT's routing table (connected peers that speak the Phase DHT). */
  private dhtPeers (): number {
    return (this.node?.services.dht as { routingTable?: { size: number } } | undefined)?.routingTable?.size ?? 0
  }

  /** This node's signed capability record, renewed before it expires. */
  async capability (): Promise<CapabilityRecord> {
    return await this.own.record(this.peerId)
  }

  /** Dials an address (used for bootstrap in tests and by operators). */
  /** What `phase doctor` reports of the network: addresses, NAT, bootstrap, DHT, clock skew. */
  async diagnose (options: { signal?: AbortSignal } = {}): Promise<NetworkReport> {
    return await this.host().doctor.report(options)
  }

  async dial (address: string): Promise<string> {
    const conn = await this.host().dial(multiaddr(address))
    return conn.remotePeer.toString()
  }

  /** Connected peers and what is known of them. */
  async peers (): Promise<PeerSummary[]> {
    const node = this.host()
    const out = new Map<string, PeerSummary>()
    for (const conn of node.getConnections()) {
      const id = conn.remotePeer.toString()
      if (out.has(id)) continue
      const peer = await node.peerStore.get(conn.remotePeer).catch(() => undefined)
      const cap = this.parts?.cache.known(id)
      const r = this.reputation.get(id)
      out.set(id, {
        peerId: id,
        addresses: peer?.addresses.map((a) => a.multiaddr.toString()) ?? [conn.remoteAddr.toString()],
        transport: transportOf(conn.remoteAddr.toString()),
        latencyMs: r.latencyMs,
        jobProtocol: peer?.protocols.some((p) => p === JOB_PROTOCOL_2 || p === JOB_PROTOCOL) ?? false,
        receiptPublicKey: cap?.receipt_public_key ?? null,
        runtimes: cap?.runtimes.map((r) => `${r.name}@${r.version}`) ?? [],
        successes: r.successes,
        failures: r.failed,
        reputation: r,
        agentVersion: agentVersionOf(peer?.metadata.get('AgentVersion'))
      })
    }
    return [...out.values()]
  }

  /** Runs a job on another node (remote-jobs.ts): `peerId` when given, else the best peers, with fail-over. */
  async runRemote (manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: RemoteRunOptions): Promise<RemoteOutcome> {
    if (this.parts === undefined || this.node === undefined) throw new PhaseError('unavailable', 'the p2p host is not running')
    return await this.parts.remote.run(manifest, loadModule, options)
  }

  /** Up to `count` distinct peers that run jobs, best first, none of `exclude`. */
  async pickPeers (count: number, exclude: ReadonlySet<string> = new Set()): Promise<string[]> {
    if (this.parts === undefined || this.node === undefined) throw new PhaseError('unavailable', 'the p2p host is not running')
    return await this.parts.remote.pick(count, exclude)
  }

  /**
   * A stream to `peer` on a connection we already have, else on a new one. libp2p's dial never
   * reuses a limited (relayed) connection: it dials again, which for a peer behind a NAT means a
   * new relayed connection for every stream (and the direct addresses tried first each time).
   * Of two direct connections (both sides dialed at once) the stream goes on the one both ends
   * keep (connection-dedupe.ts): the other is closed once its streams end or after a grace of
   * seconds, which cut the jobs running on it longer than that.
   */
  private async openStream (peer: PeerId, protocol: string | string[], signal: AbortSignal): Promise<Stream> {
    const node = this.host()
    const open = node.getConnections(peer).filter((c) => c.status === 'open')
    const conn = keeper(node.peerId.toString(), open.filter(duplicable)) ?? open.find((c) => c.limits == null) ?? open[0] ?? await node.dial(peer, { signal })
    return await conn.newStream(protocol, { signal, runOnLimitedConnection: true })
  }

  private host (): PhaseLibp2p {
    if (this.node === undefined) throw new PhaseError('unavailable', 'the p2p host is not running')
    return this.node
  }
}
