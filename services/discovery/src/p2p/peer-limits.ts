/**
 * Per-peer protection of the job protocol and of the DHT's inbound requests: at most
 * `concurrency` of one peer's requests at a time and a token bucket of `perSecond` (burst = 2 s
 * worth). One flooding peer is refused (queue_full) while others keep being served. Memory stays
 * bounded: idle peers are forgotten.
 */
import { QueueFullError } from '@phase-network/protocol'
import { RefusalCounter, type ShunInit } from './peer-shun.ts'

/** Peers tracked at once by default (idle ones dropped first). */
export const DEFAULT_MAX_LIMITED_PEERS = 10_000
/** A peer's token bucket holds this many seconds' worth of jobs (its burst). */
export const BURST_SECONDS = 2
const MS_PER_S = 1000

interface Entry { inFlight: number, tokens: number, at: number }

export interface PeerLimiterInit {
  concurrency: number
  perSecond: number
  /** Peers tracked at once; idle ones are dropped first. Default: DEFAULT_MAX_LIMITED_PEERS (10000). */
  maxPeers?: number
  /** What is limited, in refusals' messages. Default: 'jobs'. */
  what?: string
}

export class PeerLimiter {
  private readonly peers = new Map<string, Entry>()
  private readonly init: Required<PeerLimiterInit>

  constructor (init: PeerLimiterInit) {
    this.init = { maxPeers: DEFAULT_MAX_LIMITED_PEERS, what: 'jobs', ...init }
  }

  /** Takes a slot for `peer` or throws QueueFullError; call the returned function when done. */
  acquire (peer: string, now = Date.now()): () => void {
    const burst = this.init.perSecond * BURST_SECONDS
    const e = this.peers.get(peer) ?? { inFlight: 0, tokens: burst, at: now }
    e.tokens = Math.min(burst, e.tokens + (now - e.at) * this.init.perSecond / MS_PER_S)
    e.at = now
    if (e.inFlight >= this.init.concurrency) throw new QueueFullError(`peer has ${e.inFlight} ${this.init.what} running here, the limit is ${this.init.concurrency}`)
    if (e.tokens < 1) throw new QueueFullError(`peer sends more than ${this.init.perSecond} ${this.init.what}/s`)
    e.tokens -= 1
    e.inFlight++
    this.peers.delete(peer)
    this.peers.set(peer, e)
    this.trim()
    let released = false
    return () => {
      if (released) return
      released = true
      e.inFlight--
    }
  }

  get size (): number { return this.peers.size }
  /** Jobs of one peer allowed at once. */
  get concurrency (): number { return this.init.concurrency }

  private trim (): void {
    if (this.peers.size <= this.init.maxPeers) return
    for (const [peer, e] of this.peers) {
      if (this.peers.size <= this.init.maxPeers) return
      if (e.inFlight === 0) this.peers.delete(peer)
    }
  }
}

/**
 * DHT requests one peer may have answered here per second (its burst: BURST_SECONDS' worth).
 * Answering one (FIND_NODE, GET_PROVIDERS: the closest peers, each read from the peer store) is
 * 0.5–2 ms of this node's event loop, and kad-dht answers every message a peer sends on any of
 * its streams with no rate of its own: one peer could keep discovery's loop busy and delay
 * every local job. A 50-node network joining at once sends one peer ~0.1 requests/s on average
 * (bursts of a few dozen), far below this.
 */
export const DHT_REQUESTS_PER_PEER_PER_S = 100
/** DHT requests of one peer answered at once (kad-dht's own stream cap is 32 per connection). */
export const DHT_REQUESTS_PER_PEER_AT_ONCE = 16
/** DHT requests of all peers together answered per second (many PeerIds each within its own rate). */
export const DHT_REQUESTS_PER_S = 1000
/** DHT requests of all peers together answered at once. */
export const DHT_REQUESTS_AT_ONCE = 256

/** kad-dht 16's inbound RPC (`dht.rpc`): every message a peer sends goes through handleMessage. */
export interface DhtRpc {
  handleMessage: (peer: { toString: () => string }, message: unknown) => Promise<unknown>
}

export interface DhtLimits {
  /** Each peer's bound. Default: DHT_REQUESTS_PER_PEER_PER_S, DHT_REQUESTS_PER_PEER_AT_ONCE. */
  perPeer?: PeerLimiterInit
  /** All peers' together. Default: DHT_REQUESTS_PER_S, DHT_REQUESTS_AT_ONCE. */
  all?: PeerLimiterInit
  /** Called for each refused request (the caller rate-limits what it logs). */
  onRefused?: (peer: string, reason: string) => void
  /** When a peer's own refusals (not the all-peers bound's) reach the threshold. Default: peer-shun.ts's. */
  shun?: ShunInit
  /** Called once each time a peer's refusals reach `shun`'s threshold (the caller cuts it off). */
  onShun?: (peer: string) => void
  /** Peers cut off: their requests are refused before anything else (one may still be on a connection closing). */
  isShunned?: (peer: string) => boolean
}

/**
 * Holds inbound DHT requests to a rate and a count at once, per peer and for all peers
 * together (burst 2 s worth): one past either fails (kad-dht aborts that stream; the peer's
 * query moves to another peer). Returns whether the hook was found (false: another kad-dht
 * version; nothing is bounded), the count of refused requests, and a function that undoes it.
 */
export function limitDhtRequests (rpc: DhtRpc | undefined, limits: DhtLimits = {}): { installed: boolean, refused: () => number, undo: () => void } {
  const handle = rpc?.handleMessage
  if (rpc === undefined || typeof handle !== 'function') return { installed: false, refused: () => 0, undo: () => {} }
  const perPeer = new PeerLimiter({ perSecond: DHT_REQUESTS_PER_PEER_PER_S, concurrency: DHT_REQUESTS_PER_PEER_AT_ONCE, what: 'DHT requests', ...limits.perPeer })
  const all = new PeerLimiter({ perSecond: DHT_REQUESTS_PER_S, concurrency: DHT_REQUESTS_AT_ONCE, what: 'DHT requests from all peers', ...limits.all })
  const refusals = new RefusalCounter(limits.shun)
  let refused = 0
  rpc.handleMessage = async function (peer, message) {
    const id = peer.toString()
    if (limits.isShunned?.(id) === true) {
      refused++
      throw new QueueFullError('peer is cut off for sending past its rate')
    }
    const releases: Array<() => void> = []
    try {
      releases.push(perPeer.acquire(id))
      releases.push(all.acquire(''))
    } catch (err) {
      // Past its own bound (no slot taken yet) it is this peer's doing; past all peers' it is not.
      const own = releases.length === 0
      for (const release of releases) release()
      refused++
      limits.onRefused?.(id, (err as Error).message)
      if (own && refusals.note(id)) limits.onShun?.(id)
      throw err
    }
    try {
      return await handle.call(this, peer, message)
    } finally {
      for (const release of releases) release()
    }
  }
  return { installed: true, refused: () => refused, undo: () => { rpc.handleMessage = handle } }
}
