/**
 * The node on the network: a libp2p host that serves `/phase/job/1.0.0` and
 * `/phase/capability/1.0.0`, and runs jobs on other nodes with their receipts checked against
 * the key bound to the PeerId it dialed. A receipt that fails a check is an error, never a result.
 */
import type { NetworkReport } from './diagnostics.ts'
import { arch, availableParallelism, totalmem } from 'node:os'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
// node:crypto verifies ~10× faster than the portable verifier; the checks are the same code.
import { verifyReceiptNode } from '@phase-network/protocol/node'
import { configDefault, jobIdOf, inputsHashOf, type Manifest } from '@phase-network/protocol'
import { contentHash } from '@phase-network/protocol/node'
import { PhaseError, UnavailableError, VerificationError, isPhaseError } from '@phase-network/protocol'
import type { Receipt } from '@phase-network/protocol'
import type { LimitsConfig } from '@phase-network/process'
import { sanitize, type Logger } from '@phase-network/process'
import type { JobRunner } from '../jobs.ts'
import { createHost, type HostInit, type PhaseLibp2p } from './host.ts'
import { PeerLimiter } from './peer-limits.ts'
import { signCapability, verifyCapability, type CapabilityRecord } from '@phase-network/protocol'
import { announceKeys, capabilityKey, meets, type Requirements } from './providers.ts'
import { JOB_PROTOCOL, CAPABILITY_PROTOCOL, jobStreamHandler, capabilityStreamHandler, fetchCapability, type JobServer, type RemoteResult } from './job-protocol.ts'
import { JOB_PROTOCOL_2 } from './job-protocol-2.ts'
import { JobStreams } from './job-streams.ts'
import { InboundBudget } from './inbound-budget.ts'
import { checkOutputFiles } from './output-files.ts'
import { PeerBook } from './peer-book.ts'
import { findExecutors, type FoundExecutor } from './find-executors.ts'

export { JOB_PROTOCOL, CAPABILITY_PROTOCOL } from './job-protocol.ts'
export { JOB_PROTOCOL_2 } from './job-protocol-2.ts'
export type { CapabilityRecord } from '@phase-network/protocol'
export type { FoundExecutor } from './find-executors.ts'
export type { NetworkReport } from './diagnostics.ts'
export type { Requirements } from './providers.ts'

/** Peers tried for one remote job before giving up. */
const MAX_ATTEMPTS = 3
/** Peers whose capability record and job history are kept (least recently used dropped first). */
const MAX_REMEMBERED_PEERS = 1024
/** Least time between two announces caused by routing-table fills (each is 3 DHT queries). */
const REANNOUNCE_GAP_MS = 10_000
/** Provider records are refreshed this often (kad-dht keeps them for 48 h, peers come and go). */
const ANNOUNCE_EVERY_MS = 5 * 60 * 1000
/**
 * Longest a FindExecutors lookup walks the DHT: with no DHT peer, or peers that never answer, the
 * walk would otherwise last as long as the caller's deadline. What was found by then is the answer.
 */
export const LOOKUP_MS = 3000
/** Once an executor is found, how much longer FindExecutors waits for more (DHT, dials), ms. */
export const SETTLE_MS = 100
/** Longest check of one peer in FindExecutors (dial, capability record, ping), ms. */
export const CHECK_MS = 1500

export interface NetworkComponents {
  logger: Logger
  privateKey: PrivateKey
  jobs: Pick<JobRunner, 'run' | 'running'>
  modules: { has: (hash: string) => boolean }
  receiptKey: () => Promise<string>
  runtime: () => Promise<{ name: string, version: string }>
}

export interface NetworkInit extends Omit<HostInit, 'privateKey'> {
  limits: LimitsConfig
  /** Largest message a peer may send on a job stream (messageBudget(limits).peerRequest); longer ones are refused from their length prefix. */
  maxMessageBytes: number
  maxRemoteJobs: number
  /** Jobs of one peer running here at once. */
  perPeerConcurrency: number
  /** Jobs one peer may send per second (burst: two seconds' worth). */
  perPeerPerSecond: number
  /** Longest wait for each message of a peer on a job stream, ms. Default: 10000. */
  readTimeoutMs?: number
  /** Largest result read from a peer (messageBudget(limits).peerResult). Default: maxMessageBytes. */
  maxResultBytes?: number
  /** Bytes received from peers and not yet done with, all peers together. Default: 256 MiB (at least 2 × maxMessageBytes). */
  maxInflightBytes?: number
  /** Longest DHT lookup of FindExecutors, ms; found executors are returned at the deadline. Default: LOOKUP_MS (3000). */
  lookupTimeoutMs?: number
  /** Bytes of input files one remote job may send here. Default: DEFAULT_MAX_INPUT_BYTES (limits.max_input_bytes). */
  maxInputBytes?: number
}

export const DEFAULT_READ_TIMEOUT_MS = configDefault('p2p.read_timeout_ms')
export const DEFAULT_MAX_INFLIGHT_BYTES = configDefault('p2p.max_inflight_bytes')

export interface PeerSummary {
  peerId: string
  addresses: string[]
  transport: string
  latencyMs: number | null
  jobProtocol: boolean
  receiptPublicKey: string | null
  runtimes: string[]
  successes: number
  failures: number
  /** What the peer announced through identify: its text, untrusted (capped here, escaped on output). */
  agentVersion: string
}

export interface RemoteOutcome extends RemoteResult {
  peerId: string
  /** The verified capability record of the peer that ran the job. */
  capability: CapabilityRecord
}

interface History { successes: number, failures: number, latencyMs: number | null }

export interface RemoteRunOptions {
  peerId?: string
  exclude?: ReadonlySet<string>
  signal?: AbortSignal
  timeoutMs: number
  /** The bytes of one of the manifest's input files, for a peer that lacks it. */
  loadInput?: (hash: string) => Promise<Uint8Array>
}

export class PhaseNetwork {
  private readonly c: NetworkComponents
  private readonly init: NetworkInit
  private readonly log: Logger
  private node: PhaseLibp2p | undefined
  /** Verified capability records and liveness of peers (peer-book.ts). */
  private book: PeerBook | undefined
  private readonly history = new Map<string, History>()
  private own: CapabilityRecord | undefined
  private announcer: NodeJS.Timeout | undefined
  private readonly counts = { jobsIn: 0, jobsRefused: 0, jobsOut: 0, jobsOutFailed: 0, receiptsRefused: 0 }
  private announcedAt = 0
  private budget: InboundBudget | undefined
  private server: JobServer | undefined
  /** Idle job streams to peers, reused by the next job (one round trip when the peer holds the module). */
  private streams: JobStreams | undefined

  constructor (components: NetworkComponents, init: NetworkInit) {
    this.c = components
    this.init = init
    this.log = components.logger
  }

  get peerId (): string { return this.node?.peerId.toString() ?? '' }
  addresses (): string[] { return this.node?.getMultiaddrs().map(String) ?? [] }

  async start (): Promise<void> {
    if (this.node !== undefined) return
    // Each time the routing table has filled further, the provider records go to the peers now closest to the keys.
    this.node = await createHost({ ...this.init, privateKey: this.c.privateKey }, { logger: this.log, onJoined: () => { if (Date.now() - this.announcedAt > REANNOUNCE_GAP_MS) void this.announce() } })
    // Jobs are small enough for a relayed (limited) connection to a node behind a NAT.
    const opts = { maxInboundStreams: 64, maxOutboundStreams: 64, runOnLimitedConnection: true }
    const limiter = new PeerLimiter({ concurrency: this.init.perPeerConcurrency, perSecond: this.init.perPeerPerSecond })
    const count = (outcome: 'in' | 'refused'): void => { if (outcome === 'in') this.counts.jobsIn++; else this.counts.jobsRefused++ }
    // Room for at least two of the largest messages, so one peer's large job always fits.
    this.budget = new InboundBudget({ maxBytes: Math.max(this.init.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES, 2 * this.init.maxMessageBytes) })
    const readTimeoutMs = this.init.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS
    const serve = jobStreamHandler({ ...this.c, count }, { maxMessageBytes: this.init.maxMessageBytes, maxInFlight: this.init.maxRemoteJobs, limiter, budget: this.budget, readTimeoutMs, maxInputBytes: this.init.maxInputBytes })
    this.server = serve
    this.log.info({ maxMessageBytes: this.init.maxMessageBytes, maxResultBytes: this.init.maxResultBytes ?? this.init.maxMessageBytes, maxInflightBytes: this.budget.maxBytes, maxPeerBytes: this.budget.maxPeerBytes, readTimeoutMs, maxRemoteJobs: this.init.maxRemoteJobs }, 'job protocol limits')
    await this.node.handle(JOB_PROTOCOL, async (stream, connection) => { await serve(stream, connection.remotePeer.toString()) }, opts)
    // 2.0.0 (streams reused, one round trip); 1.0.0 stays served for nodes that predate it.
    await this.node.handle(JOB_PROTOCOL_2, async (stream, connection) => { await serve.v2(stream, connection.remotePeer.toString()) }, opts)
    this.streams = new JobStreams(async (peer, protocols, signal) => await this.openStream(peer, protocols, signal), { maxMessageBytes: this.init.maxResultBytes ?? this.init.maxMessageBytes, readTimeoutMs, idleMs: Math.floor(readTimeoutMs / 2) })
    const serveCapability = capabilityStreamHandler(async () => await this.capability(), this.budget, this.log)
    await this.node.handle(CAPABILITY_PROTOCOL, async (stream, connection) => { await serveCapability(stream, connection.remotePeer.toString()) }, opts)
    // Provider records expire: announce now, whenever a peer joins while the last announce is
    // stale (a lone node has nobody to store them), and before the records run out.
    this.node.addEventListener('peer:connect', () => { if (Date.now() - this.announcedAt > ANNOUNCE_EVERY_MS) void this.announce() })
    // What is kept of a peer goes with it (a record is fetched again, and checked, if it returns).
    const node = this.node
    this.book = new PeerBook({
      connection: (peer) => {
        const open = node.getConnections(peerIdFromString(peer)).filter((c) => c.status === 'open')
        return open.length === 0 ? undefined : open.some((c) => c.remoteAddr.toString().includes('/quic')) ? 'live' : 'open'
      },
      ping: async (peer, signal) => await (node.services.ping as { ping: (p: PeerId, o: { signal: AbortSignal }) => Promise<number> }).ping(peerIdFromString(peer), { signal })
    })
    this.node.addEventListener('peer:connect', (e) => { this.book?.seen(e.detail.toString()) })
    this.node.addEventListener('peer:disconnect', (e) => { this.book?.gone(e.detail.toString()); this.streams?.drop(e.detail.toString()) })
    this.announcer = setInterval(() => { void this.announce() }, ANNOUNCE_EVERY_MS)
    this.announcer.unref()
    void this.announce()
    this.log.info({ peerId: this.peerId, addresses: this.addresses() }, 'p2p host listening')
  }

  async stop (): Promise<void> {
    clearInterval(this.announcer)
    this.streams?.drop()
    const node = this.node
    this.node = undefined
    await node?.stop()
  }

  /** What peers hold here now: job streams served, remote jobs holding a slot, bytes in flight. */
  load (): { streams: number, remoteJobs: number, inflightBytes: number, capabilities: number, history: number, providerRecords: number, peerStoreEntries: number, dhtBytes: number, peerStoreBytes: number } {
    const store = this.node?.datastore.usage() ?? { dhtBytes: 0, peerStoreBytes: 0, providerRecords: 0, peerStoreEntries: 0 }
    return { streams: this.server?.streams ?? 0, remoteJobs: this.server?.inFlight ?? 0, inflightBytes: this.budget?.inFlight ?? 0, capabilities: this.book?.size ?? 0, history: this.history.size, ...store }
  }

  /** Counters since start, for GetNodeInfo and metrics. */
  counters (): { peers: number, jobsIn: number, jobsRefused: number, jobsOut: number, jobsOutFailed: number, receiptsRefused: number } {
    const peers = new Set(this.node?.getConnections().map((c) => c.remotePeer.toString()) ?? []).size
    return { peers, ...this.counts }
  }

  /** Puts provider records for this node's capability keys into the DHT. */
  private async announce (): Promise<void> {
    const node = this.node
    if (node === undefined || node.getConnections().length === 0) return
    this.announcedAt = Date.now()
    try {
      const runtime = await this.c.runtime()
      for (const key of announceKeys(runtime.name, arch())) await node.contentRouting.provide(await capabilityKey(key))
      this.log.debug({ event: 'announced' }, 'capability keys provided')
    } catch (err) {
      this.announcedAt = 0
      this.log.debug({ err: (err as Error).message }, 'could not provide capability keys yet')
    }
  }

  /**
   * Nodes that run jobs and meet `req`, found through provider records in the DHT, each
   * checked through its signed capability record; least loaded first.
   */
  async findExecutors (req: Requirements, options: { limit?: number, signal?: AbortSignal } = {}): Promise<FoundExecutor[]> {
    const node = this.host()
    // Alone, there is nobody to ask: said at once (kad-dht would wait for a first peer).
    if (node.getConnections().length === 0) throw new UnavailableError('no peer is connected: the DHT has nobody to ask (see p2p.bootstrap)')
    const key = await capabilityKey(req.runtime !== undefined && req.runtime !== '' ? `runtime:${req.runtime}` : 'executor')
    return await findExecutors({
      self: this.peerId,
      connectedExecutors: async () => (await this.candidates()),
      providers: (signal) => node.contentRouting.findProviders(key, { signal }),
      learn: async (p) => { await node.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }) },
      capability: async (peer, signal) => await this.verifiedCapability(peer, signal),
      book: this.book!,
      dhtPeers: () => this.dhtPeers()
    }, req, { limit: options.limit ?? 20, lookupMs: this.init.lookupTimeoutMs ?? LOOKUP_MS, settleMs: SETTLE_MS, checkMs: CHECK_MS, signal: options.signal })
  }

  /** Peers in the DHT's routing table (connected peers that speak the Phase DHT). */
  private dhtPeers (): number {
    return (this.node?.services.dht as { routingTable?: { size: number } } | undefined)?.routingTable?.size ?? 0
  }

  /** This node's signed capability record, renewed before it expires. */
  async capability (): Promise<CapabilityRecord> {
    if (this.own !== undefined && this.own.expires_at - Date.now() > 60_000) return this.own
    const l = this.init.limits
    const runtime = await this.c.runtime()
    this.own = await signCapability(this.c.privateKey, this.peerId, {
      version: 1,
      receipt_public_key: await this.c.receiptKey(),
      runtimes: [runtime],
      arch: arch(),
      cores: availableParallelism(),
      memory_mb: Math.floor(totalmem() / (1024 * 1024)),
      limits: { max_memory_mb: l.maxMemoryMb, max_timeout_ms: l.maxTimeoutMs, max_output_bytes: l.maxOutputBytes, max_module_bytes: l.maxModuleBytes },
      queue_depth: this.c.jobs.running,
      protocols: [JOB_PROTOCOL_2, JOB_PROTOCOL]
    })
    return this.own
  }

  /** What `phase doctor` reports of the network: addresses, NAT, bootstrap, DHT, clock skew. */
  async diagnose (options: { signal?: AbortSignal } = {}): Promise<NetworkReport> {
    return await this.host().doctor.report(options)
  }

  /** Dials an address (used for bootstrap in tests and by operators). */
  async dial (address: string): Promise<string> {
    const conn = await this.host().dial(multiaddr(address))
    return conn.remotePeer.toString()
  }

  /** Connected peers and what is known of them. */
  async peers (): Promise<PeerSummary[]> {
    const node = this.host()
    const out: PeerSummary[] = []
    for (const conn of node.getConnections()) {
      const id = conn.remotePeer.toString()
      if (out.some((p) => p.peerId === id)) continue
      const peer = await node.peerStore.get(conn.remotePeer).catch(() => undefined)
      const cap = this.book?.known(id)
      const h = this.history.get(id)
      out.push({
        peerId: id,
        addresses: peer?.addresses.map((a) => a.multiaddr.toString()) ?? [conn.remoteAddr.toString()],
        transport: conn.remoteAddr.toString().includes('/p2p-circuit') ? 'relay' : conn.remoteAddr.toString().includes('/quic') ? 'quic' : 'tcp',
        latencyMs: h?.latencyMs ?? null,
        jobProtocol: peer?.protocols.some((p) => p === JOB_PROTOCOL_2 || p === JOB_PROTOCOL) ?? false,
        receiptPublicKey: cap?.receipt_public_key ?? null,
        runtimes: cap?.runtimes.map((r) => `${r.name}@${r.version}`) ?? [],
        successes: h?.successes ?? 0,
        failures: h?.failures ?? 0,
        agentVersion: agentVersionOf(peer?.metadata.get('AgentVersion'))
      })
    }
    return out
  }

  /**
   * Runs a job on another node: `peerId` when given, else the best connected peers that speak
   * the job protocol (fewest failures, then lowest latency), failing over up to 3 of them.
   */
  async runRemote (manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: RemoteRunOptions): Promise<RemoteOutcome> {
    const candidates = options.peerId !== undefined ? [options.peerId] : (await this.candidatesFor(manifest)).filter((p) => options.exclude?.has(p) !== true)
    if (candidates.length === 0) throw new UnavailableError('no peer that runs jobs is connected')
    let last: unknown
    for (const peer of candidates.slice(0, MAX_ATTEMPTS)) {
      try {
        return await this.runOn(peer, manifest, loadModule, options)
      } catch (err) {
        last = err
        this.note(peer, false)
        this.counts.jobsOutFailed++
        if (isPhaseError(err, 'verification_failed')) this.counts.receiptsRefused++
        this.log.warn({ event: 'job_out_failed', peer, code: isPhaseError(err) ? err.code : 'internal', err: (err as Error).message }, 'remote job failed')
        if (options.peerId !== undefined || options.signal?.aborted === true) break
      }
    }
    throw isPhaseError(last) ? last : new UnavailableError('remote job failed on every peer tried', { cause: last })
  }

  private async runOn (peer: string, manifest: Manifest, loadModule: () => Promise<Uint8Array>, options: RemoteRunOptions): Promise<RemoteOutcome> {
    const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), ...(options.signal !== undefined ? [options.signal] : [])])
    const id = peerIdFromString(peer)
    const cap = await this.verifiedCapability(peer, signal)
    const started = performance.now()
    if (this.streams === undefined) throw new PhaseError('unavailable', 'the p2p host is not running')
    const result = await this.streams.run(id, manifest, loadModule, { signal, loadInput: options.loadInput })
    // The checks of DESIGN §3 "Trust", against the key bound to the PeerId we dialed.
    const { receipt } = verifyReceiptNode(result.receiptJson, {
      publicKey: cap.receipt_public_key,
      peerId: peer,
      job: { jobId: jobIdOf(manifest, contentHash), nonce: manifest.nonce, moduleHash: manifest.module_hash, inputsHash: inputsHashOf(manifest, contentHash) },
      outputs: { stdout: result.stdout, stderr: result.stderr }
    })
    // Every output file as its receipt lists it (path, sha256, size), like stdout.
    const outputs = checkOutputFiles(receipt.outputs, result.outputs)
    const verified = { ...fromReceipt(result, receipt), ...(outputs.length > 0 ? { outputs } : {}) }
    this.note(peer, true, performance.now() - started)
    this.counts.jobsOut++
    // Per job at debug, as local jobs are not logged at all: a synchronous info line cost ~0.2 ms
    // of CPU per remote job (bench profile); failures stay at warn.
    this.log.debug({ event: 'job_out', peer, status: verified.status }, 'remote job done')
    return { ...verified, peerId: peer, capability: cap }
  }

  /**
   * A stream to `peer` on a connection we already have, else on a new one. libp2p's dial never
   * reuses a limited (relayed) connection: it dials again, which for a peer behind a NAT means a
   * new relayed connection for every stream (and the direct addresses tried first each time).
   */
  private async openStream (peer: PeerId, protocol: string | string[], signal: AbortSignal): Promise<Stream> {
    const node = this.host()
    const open = node.getConnections(peer).filter((c) => c.status === 'open')
    const conn = open.find((c) => c.limits == null) ?? open[0] ?? await node.dial(peer, { signal })
    return await conn.newStream(protocol, { signal, runOnLimitedConnection: true })
  }

  private async verifiedCapability (peer: string, signal: AbortSignal): Promise<CapabilityRecord> {
    const cached = this.book?.record(peer)
    if (cached !== undefined) return cached
    const stream = await this.openStream(peerIdFromString(peer), CAPABILITY_PROTOCOL, signal)
    const bytes = await fetchCapability(stream, signal, this.init.readTimeoutMs)
    const record = await verifyCapability(bytes, peer)
    this.book?.remember(peer, record, bytes.byteLength)
    return record
  }

  /** Up to `count` distinct peers that run jobs, best first, none of `exclude`. */
  async pickPeers (count: number, exclude: ReadonlySet<string> = new Set()): Promise<string[]> {
    return (await this.candidates()).filter((p) => !exclude.has(p)).slice(0, count)
  }

  /** Connected peers that meet the manifest's requirements; the DHT when none does. */
  private async candidatesFor (manifest: Manifest): Promise<string[]> {
    const req = manifest.requirements
    const connected = await this.candidates()
    if (req === undefined) return connected
    const matching: string[] = []
    for (const peer of connected) {
      const record = await this.verifiedCapability(peer, AbortSignal.timeout(5000)).catch(() => undefined)
      if (record !== undefined && meets(record, req)) matching.push(peer)
    }
    if (matching.length > 0) return matching
    return (await this.findExecutors(req)).map((e) => e.peerId)
  }

  private async candidates (): Promise<string[]> {
    const peers = (await this.peers()).filter((p) => p.jobProtocol)
    const score = (p: PeerSummary): number => p.failures * 1000 + (p.latencyMs ?? 100)
    return peers.sort((a, b) => score(a) - score(b)).map((p) => p.peerId)
  }

  private note (peer: string, ok: boolean, latencyMs?: number): void {
    const h = this.history.get(peer) ?? { successes: 0, failures: 0, latencyMs: null }
    if (ok) h.successes++
    else h.failures++
    if (latencyMs !== undefined) h.latencyMs = h.latencyMs === null ? latencyMs : h.latencyMs * 0.8 + latencyMs * 0.2
    this.history.delete(peer)
    this.history.set(peer, h)
    if (this.history.size > MAX_REMEMBERED_PEERS) this.history.delete(this.history.keys().next().value!)
  }

  private host (): PhaseLibp2p {
    if (this.node === undefined) throw new PhaseError('unavailable', 'the p2p host is not running')
    return this.node
  }
}

/**
 * A remote result as its verified receipt says: job id, status and exit code are taken from the
 * signed receipt, never from the peer's unsigned message; a message that says otherwise is a
 * lying (or broken) peer, refused like a bad signature.
 */
export function fromReceipt (result: RemoteResult, receipt: Pick<Receipt, 'job_id' | 'status' | 'exit_code'>): RemoteResult {
  const claims: Array<[string, unknown, unknown]> = [['job_id', result.jobId, receipt.job_id], ['status', result.status, receipt.status], ['exit_code', result.exitCode, receipt.exit_code]]
  for (const [field, said, signed] of claims) {
    if (said !== signed) throw new VerificationError(field, `the peer's message says ${field} ${sanitize(said, 80)}, its signed receipt says ${sanitize(signed, 80)}`)
  }
  return { ...result, jobId: receipt.job_id, status: receipt.status, exitCode: receipt.exit_code }
}

/** Longest agent version kept for display. */
const MAX_AGENT_VERSION = 128

/** identify stores the agent version as UTF-8 bytes in the peer store's metadata. */
function agentVersionOf (bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return ''
  return new TextDecoder().decode(bytes.subarray(0, MAX_AGENT_VERSION * 4)).slice(0, MAX_AGENT_VERSION)
}
