/**
 * Filling the routing table when a node joins. kad-dht runs its first self-query 1 s after
 * start and then every 5 minutes; a node whose first peer arrives later (bootstrap still
 * dialing, a seed that came up after it) keeps a table of the few peers that happened to
 * contact it. Here: when the table gains its first peer, and again each time it has doubled
 * since the last fill, look up our own key and a few random keys. Every peer that answers or
 * is named in an answer is offered to the routing table, so after a few of these lookups a
 * node knows most of a small network and its share of a large one. Doubling bounds the number
 * of fills to log2(network size), each followed by at most MAX_REFILLS while they find peers.
 */
import { randomBytes } from 'node:crypto'

export interface JoinTable {
  size: number
  addEventListener: (type: 'peer:add', listener: () => void) => void
  removeEventListener: (type: 'peer:add', listener: () => void) => void
}

export interface JoinDht {
  getClosestPeers: (key: Uint8Array, options: { signal: AbortSignal }) => AsyncIterable<unknown>
}

export interface JoinInit {
  /** Random keys looked up beside our own on each fill. Default 4. */
  randomKeys?: number
  /** Wait after a new peer before filling, so a burst of joins makes one fill. Default 200 ms. */
  settleMs?: number
  /** Longest fill. Default 10 s. */
  timeoutMs?: number
  /** Least time between two fills. Default 2 s. */
  minGapMs?: number
}

/** Random keys looked up beside our own on each fill (default of randomKeys). */
export const DEFAULT_RANDOM_KEYS = 4
/** Wait after a new peer before filling, ms (default of settleMs). */
export const DEFAULT_FILL_SETTLE_MS = 200
/** Longest fill, ms (default of timeoutMs). */
export const DEFAULT_FILL_TIMEOUT_MS = 10_000
/** Least time between two fills, ms (default of minGapMs). */
export const DEFAULT_FILL_GAP_MS = 2000
/** Bytes of a random DHT key (the size of a sha256 multihash digest, like a PeerId's). */
const RANDOM_KEY_BYTES = 32

/** Fills in a row while each finds new peers (the gaps double: 4 s … 64 s with minGapMs 2 s). */
const MAX_REFILLS = 5

export interface Joiner {
  /** Fills done so far. */
  readonly fills: number
  stop: () => void
}

export function fillOnJoin (dht: JoinDht, table: JoinTable, selfKey: Uint8Array, init: JoinInit = {}): Joiner {
  const randomKeys = init.randomKeys ?? DEFAULT_RANDOM_KEYS
  const settleMs = init.settleMs ?? DEFAULT_FILL_SETTLE_MS
  const timeoutMs = init.timeoutMs ?? DEFAULT_FILL_TIMEOUT_MS
  const minGapMs = init.minGapMs ?? DEFAULT_FILL_GAP_MS
  const stopped = new AbortController()
  let sizeAtLastFill = 0
  let lastFillAt = -Infinity
  let timer: NodeJS.Timeout | undefined
  let running = false
  let fills = 0
  let refills = 0

  const lookup = async (key: Uint8Array, signal: AbortSignal): Promise<void> => {
    try {
      for await (const _ of dht.getClosestPeers(key, { signal })) { /* answers feed the routing table */ }
    } catch {}
  }
  const fill = async (): Promise<void> => {
    timer = undefined
    if (stopped.signal.aborted || running) return
    running = true
    sizeAtLastFill = Math.max(1, table.size)
    lastFillAt = Date.now()
    fills++
    const sizeBefore = table.size
    const signal = AbortSignal.any([stopped.signal, AbortSignal.timeout(timeoutMs)])
    try {
      await Promise.all([selfKey, ...Array.from({ length: randomKeys }, () => new Uint8Array(randomBytes(RANDOM_KEY_BYTES)))].map(async (k) => { await lookup(k, signal) }))
    } finally {
      running = false
    }
    if (stopped.signal.aborted) return
    // A fill that found peers is followed by another (the new ones know others), later each
    // time, until one finds nobody new: new contacts are pinged before they count, and on a busy
    // network those answers come after the fill has ended.
    if (table.size > sizeBefore && refills < MAX_REFILLS) {
      refills++
      timer = setTimeout(() => { void fill() }, minGapMs * 2 ** refills)
      timer.unref()
      return
    }
    refills = 0
    // Peers that arrived during the fill may have doubled the table already.
    onAdd()
  }
  const onAdd = (): void => {
    if (stopped.signal.aborted || running || timer !== undefined) return
    if (table.size < 2 * sizeAtLastFill && sizeAtLastFill > 0 && fills > 0) return
    const wait = Math.max(settleMs, lastFillAt + minGapMs - Date.now())
    timer = setTimeout(() => { void fill() }, wait)
    timer.unref()
  }
  table.addEventListener('peer:add', onAdd)
  return {
    get fills () { return fills },
    stop: () => {
      stopped.abort()
      clearTimeout(timer)
      table.removeEventListener('peer:add', onAdd)
    }
  }
}

/** The parts of kad-dht 16's routing table (`routingTable.kb`) that admitConnected replaces. */
interface Bucket {
  verify?: (contact: { peerId: { toString: () => string } }, options?: unknown) => Promise<boolean>
}

/**
 * kad-dht pings every new contact before it enters the routing table, even one that has just
 * connected to us and answered identify on that connection; during a join burst those pings
 * queue behind each other and time out, and the peer is left out. A peer with an open
 * connection is there: it is admitted without the ping. Others (learned from lookup answers)
 * are still pinged. Returns false when this kad-dht has no such hook (another version).
 */
export function admitConnected (table: unknown, connected: (peer: string) => boolean): boolean {
  const kb = (table as { kb?: Bucket }).kb
  const verify = kb?.verify
  if (kb === undefined || typeof verify !== 'function') return false
  kb.verify = async (contact, options) => connected(contact.peerId.toString()) || await verify(contact, options)
  return true
}

/** kad-dht 16's network part: it dispatches 'peer' for every peer named in an answer. */
export interface ContactSource {
  safeDispatchEvent: (type: string, init: { detail: { id: { toString: () => string } } }) => boolean
}

/** The routing table's membership events. */
export interface ContactTable {
  addEventListener: (type: 'peer:add' | 'peer:remove', listener: (e: CustomEvent<{ toString: () => string }>) => void) => void
  removeEventListener: (type: 'peer:add' | 'peer:remove', listener: (e: CustomEvent<{ toString: () => string }>) => void) => void
}

/**
 * kad-dht hands every peer named in a lookup answer (up to 20 an answer) to the routing table,
 * which queues an update for it, and to libp2p's peer discovery, which merges its addresses
 * into the peer store; it does so for peers already in the table and for this node itself,
 * which peers name as close to keys near it (the table then pings it: 'Can not dial self',
 * 451 of 560 failed routing-table pings at 20 nodes). In a network the table already knows,
 * that is nearly every contact of every answer: work the event loop does during a join, for
 * nothing. Here those are dropped before either sees them; a new peer still goes through
 * (pinged before it enters the table). Returns a function that undoes it.
 */
export function skipKnownContacts (network: ContactSource, table: ContactTable, self: string): () => void {
  const known = new Set<string>()
  const onAdd = (e: CustomEvent<{ toString: () => string }>): void => { known.add(e.detail.toString()) }
  const onRemove = (e: CustomEvent<{ toString: () => string }>): void => { known.delete(e.detail.toString()) }
  table.addEventListener('peer:add', onAdd)
  table.addEventListener('peer:remove', onRemove)
  const dispatch = network.safeDispatchEvent
  network.safeDispatchEvent = function (type, init) {
    if (type === 'peer') {
      const id = init.detail.id.toString()
      if (id === self || known.has(id)) return true
    }
    return dispatch.call(this, type, init)
  }
  return () => {
    network.safeDispatchEvent = dispatch
    table.removeEventListener('peer:add', onAdd)
    table.removeEventListener('peer:remove', onRemove)
    known.clear()
  }
}
