/**
 * connection-dedupe's rule on connections it is shown (the pair-level behaviour with real hosts
 * is in test/integration/dht-fill and duplicate-connection-jobs): which one stays, and that a
 * duplicate whose kept twin went away during its grace is not closed after all.
 */
import { describe, it, expect } from '@jest/globals'
import type { Connection } from '@libp2p/interface'
import { dedupeConnections, keeper, type DedupeHost } from '../../services/discovery/src/p2p/connection-dedupe.ts'

const SELF = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const PEER = '12D3KooWZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ'

interface FakeConnection { id: string, status: string, direct: boolean, limits: undefined, direction: 'inbound' | 'outbound', remotePeer: { toString: () => string }, remoteAddr: { toString: () => string }, timeline: { open: number }, streams: unknown[], closed: number, close: () => Promise<void>, abort: () => void }

function connection (id: string, direction: 'inbound' | 'outbound', addr: string, open: number): FakeConnection {
  const c: FakeConnection = {
    id, status: 'open', direct: true, limits: undefined, direction, remotePeer: { toString: () => PEER }, remoteAddr: { toString: () => addr }, timeline: { open }, streams: [], closed: 0,
    close: async () => { c.closed++; c.status = 'closed' },
    abort: () => { c.status = 'closed' }
  }
  return c
}

function host (conns: FakeConnection[]): DedupeHost & { open: (c: FakeConnection) => void } {
  const listeners: Array<(e: CustomEvent<Connection>) => void> = []
  return {
    peerId: { toString: () => SELF },
    getConnections: () => conns,
    addEventListener: (_type: string, fn: (e: CustomEvent<Connection>) => void) => { listeners.push(fn) },
    removeEventListener: () => {},
    open: (c: FakeConnection) => { for (const fn of listeners) fn(new CustomEvent('connection:open', { detail: c as unknown as Connection })) }
  } as unknown as DedupeHost & { open: (c: FakeConnection) => void }
}

const wait = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** The connection this end dialed over QUIC (kept) and the peer's over TCP with `streams` on it, deduped from now. */
function duplicated (streams: number): { kept: FakeConnection, dup: FakeConnection, h: ReturnType<typeof host>, stop: () => void } {
  const kept = connection('1', 'outbound', '/ip4/127.0.0.1/udp/1/quic-v1', 1)
  const dup = connection('2', 'inbound', '/ip4/127.0.0.1/tcp/1', 2)
  for (let i = 0; i < streams; i++) dup.streams.push({})
  const h = host([kept, dup])
  return { kept, dup, h, stop: dedupeConnections(h) }
}

describe('connection dedupe', () => {
  it('keeps the connection dialed by the smaller PeerId, then QUIC, then the older', () => {
    const mine = connection('1', 'outbound', '/ip4/127.0.0.1/tcp/1', 2)
    const theirs = connection('2', 'inbound', '/ip4/127.0.0.1/udp/1/quic-v1', 1)
    // SELF < PEER: the one this end dialed stays, though the other is QUIC and older.
    expect(keeper(SELF, [theirs, mine] as unknown as Connection[])).toBe(mine)
    const quic = connection('3', 'outbound', '/ip4/127.0.0.1/udp/1/quic-v1', 3)
    expect(keeper(SELF, [mine, quic] as unknown as Connection[])).toBe(quic)
  })

  it('closes the duplicate once its streams end', async () => {
    const { kept, dup, h, stop } = duplicated(0)
    try {
      h.open(dup)
      await wait(50)
      expect(dup.closed).toBe(1)
      expect(kept.closed).toBe(0)
    } finally { stop() }
  })

  it('does not close a duplicate whose kept twin went away during its grace', async () => {
    const { kept, dup, h, stop } = duplicated(1)
    try {
      h.open(dup)
      await wait(150)
      expect(dup.closed).toBe(0)
      // The kept one drops; the stream on the duplicate ends: it is now the peer's only connection.
      kept.status = 'closed'
      dup.streams.length = 0
      await wait(300)
      expect(dup.closed).toBe(0)
      expect(dup.status).toBe('open')
    } finally { stop() }
  })
})
