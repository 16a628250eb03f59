/**
 * FindExecutors: nodes that run jobs and meet a job's requirements, each checked through its
 * signed capability record and alive now. Connected peers are asked first (a record in the peer
 * book or one stream away); the DHT is walked at the same time for providers of the capability
 * key, and each new one is dialed in parallel under its own short deadline. The answer is ready
 * when `limit` executors are found, when the walk and every check have ended, `settleMs` after
 * the first executor was found, or at `lookupMs`, whichever comes first. A peer known gone is
 * not dialed; one that fails its check is marked gone.
 */
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CapabilityRecord } from '@phase-network/protocol'
import { CancelledError, DeadlineExceededError, UnavailableError, isPhaseError } from '@phase-network/protocol'
import { meets, type Requirements } from './providers.ts'
import type { PeerBook } from './peer-book.ts'

export interface FoundExecutor {
  peerId: string
  record: CapabilityRecord
}

export interface FindComponents {
  self: string
  /** Connected peers that said (identify) they speak the job protocol. */
  connectedExecutors: () => Promise<string[]>
  /** DHT providers of the key for these requirements. */
  providers: (signal: AbortSignal) => AsyncIterable<{ id: PeerId, multiaddrs: Multiaddr[] }>
  /** The addresses a provider record gave, kept for the dial. */
  learn: (provider: { id: PeerId, multiaddrs: Multiaddr[] }) => Promise<void>
  /** The peer's verified capability record (from the book, else fetched). */
  capability: (peer: string, signal: AbortSignal) => Promise<CapabilityRecord>
  book: Pick<PeerBook, 'isGone' | 'gone' | 'alive'>
  /** Peers in the DHT routing table. */
  dhtPeers: () => number
}

export interface FindOptions {
  limit: number
  /** Longest lookup, ms. */
  lookupMs: number
  /** Longest wait for more executors after the first one was found, ms. */
  settleMs: number
  /** Longest check (dial, record, ping) of one peer, ms. */
  checkMs: number
  signal?: AbortSignal
}

export async function findExecutors (c: FindComponents, req: Requirements, o: FindOptions): Promise<FoundExecutor[]> {
  const found = new Map<string, FoundExecutor>()
  const tried = new Set<string>([c.self])
  const end = new AbortController()
  const deadline = AbortSignal.timeout(o.lookupMs)
  const signal = AbortSignal.any([end.signal, deadline, ...(o.signal !== undefined ? [o.signal] : [])])
  let pending = 0
  let walking = true
  let walkError: unknown
  let settle: NodeJS.Timeout | undefined
  const done = Promise.withResolvers<void>()
  const check = (): void => {
    if (found.size >= o.limit || (!walking && pending === 0)) done.resolve()
  }
  signal.addEventListener('abort', () => { done.resolve() }, { once: true })

  const consider = (peer: string): void => {
    if (tried.has(peer) || c.book.isGone(peer)) return
    tried.add(peer)
    pending++
    const own = AbortSignal.any([signal, AbortSignal.timeout(o.checkMs)])
    void (async () => {
      const record = await c.capability(peer, own)
      if (!await c.book.alive(peer, own)) return
      if (!meets(record, req) || signal.aborted) return
      found.set(peer, { peerId: peer, record })
      if (settle === undefined) settle = setTimeout(() => { done.resolve() }, o.settleMs)
    })().catch(() => {
      // Not there, or not answering within its own deadline: leave it out for a while.
      if (!signal.aborted) c.book.gone(peer)
    }).finally(() => {
      pending--
      check()
    })
  }

  for (const peer of await c.connectedExecutors().catch(() => [])) consider(peer)
  void (async () => {
    for await (const provider of c.providers(signal)) {
      const id = provider.id.toString()
      if (tried.has(id) || c.book.isGone(id)) continue
      if (provider.multiaddrs.length > 0) await c.learn(provider).catch(() => {})
      consider(id)
      if (found.size >= o.limit) break
    }
  })().catch((err: unknown) => { if (!signal.aborted) walkError = err }).finally(() => {
    walking = false
    check()
  })

  try {
    await done.promise
  } finally {
    clearTimeout(settle)
    end.abort()
  }
  if (o.signal?.aborted === true) throw o.signal.reason?.name === 'TimeoutError' ? new DeadlineExceededError('the lookup outlived the call\'s deadline') : new CancelledError('the lookup was cancelled')
  if (found.size === 0) {
    if (walkError !== undefined) throw isPhaseError(walkError) ? walkError : new UnavailableError('the DHT lookup failed', { cause: walkError })
    if (deadline.aborted && c.dhtPeers() === 0) throw new UnavailableError(`no connected peer speaks the DHT (${o.lookupMs} ms)`)
  }
  return [...found.values()].sort((a, b) => a.record.queue_depth - b.record.queue_depth).slice(0, o.limit)
}
