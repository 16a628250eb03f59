/**
 * One connection per pair of peers. When two nodes dial each other at the same moment (the DHT
 * pings every contact it learns, so during a join both sides often do), libp2p keeps both
 * connections. Both ends apply the same rule to the same set of connections and so close the
 * same one: the connection dialed by the peer with the smaller PeerId wins, then QUIC over TCP,
 * then the older. The loser is closed gracefully, so a stream already on it finishes.
 * Limited (relayed) connections are left alone: they are not duplicates of a direct one.
 */
import type { Connection, Libp2p } from '@libp2p/interface'

export type DedupeHost = Pick<Libp2p, 'peerId' | 'getConnections' | 'addEventListener' | 'removeEventListener'>

/** Which of a peer's open, unlimited connections stays. */
export function keeper (self: string, conns: readonly Connection[]): Connection | undefined {
  let best: Connection | undefined
  for (const c of conns) if (best === undefined || rank(self, c, best) < 0) best = c
  return best
}

function rank (self: string, a: Connection, b: Connection): number {
  const dialer = (c: Connection): string => c.direction === 'outbound' ? self : c.remotePeer.toString()
  const smaller = (c: Connection): number => {
    const d = dialer(c)
    const other = d === self ? c.remotePeer.toString() : self
    return d < other ? 0 : 1
  }
  const quic = (c: Connection): number => c.remoteAddr.toString().includes('/quic') ? 0 : 1
  return (smaller(a) - smaller(b)) || (quic(a) - quic(b)) || (a.timeline.open - b.timeline.open)
}

/**
 * A connection that can be a duplicate of another to the same peer: open, direct (a relayed one
 * is not a duplicate of a direct one, and its address names the relay's transport) and without
 * limits.
 */
export function duplicable (c: Connection): boolean {
  return c.status === 'open' && c.direct && c.limits == null
}

/** How often a duplicate is checked for streams still running on it, ms. */
const IDLE_CHECK_MS = 100
/** Longest a duplicate is kept for its streams to end, ms. */
const MAX_GRACE_MS = 5000

/**
 * Closes duplicate connections as they appear; returns a function that stops doing so. A
 * duplicate is closed once no stream runs on it (a DHT request or ping that both sides started
 * on it a moment ago would otherwise fail), at the latest after MAX_GRACE_MS.
 */
export function dedupeConnections (node: DedupeHost, onClose?: (dropped: Connection) => void): () => void {
  const self = node.peerId.toString()
  const candidates = (peer: Connection['remotePeer']): Connection[] => node.getConnections(peer).filter(duplicable)
  const closing = new Set<string>()
  const timers = new Set<NodeJS.Timeout>()
  const later = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => { timers.delete(t); fn() }, ms)
    t.unref()
    timers.add(t)
  }
  const closeWhenIdle = (c: Connection, since: number): void => {
    if (c.status !== 'open') { closing.delete(c.id); return }
    if (c.streams.length > 0 && Date.now() - since < MAX_GRACE_MS) { later(() => { closeWhenIdle(c, since) }, IDLE_CHECK_MS); return }
    // Chosen again at the moment of closing: the one kept may have gone meanwhile (this one is
    // then the peer's only connection, and what openStream picks).
    if (keeper(self, candidates(c.remotePeer)) === c) { closing.delete(c.id); return }
    onClose?.(c)
    c.close().catch((err: Error) => { c.abort(err) }).finally(() => { closing.delete(c.id) })
  }
  const prune = (conn: Connection): void => {
    const open = candidates(conn.remotePeer)
    if (open.length < 2) return
    const keep = keeper(self, open)
    for (const c of open) {
      if (c === keep || closing.has(c.id)) continue
      closing.add(c.id)
      closeWhenIdle(c, Date.now())
    }
  }
  // After the current tick: the connection manager tracks a new connection after the event.
  const listener = (e: CustomEvent<Connection>): void => { later(() => { prune(e.detail) }, 0) }
  node.addEventListener('connection:open', listener)
  return () => {
    node.removeEventListener('connection:open', listener)
    for (const t of timers) clearTimeout(t)
  }
}
