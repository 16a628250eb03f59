/**
 * A peer whose event loop is busy for seconds (a loaded host, a long synchronous task) is slow,
 * not gone: its connections stay. libp2p's connection monitor aborted a connection whose 10 s
 * heartbeat ping got no answer within 5 s; on a loaded 50-node loopback cluster that dropped
 * healthy connections in waves, the DHT redialed them and its routing tables stalled. QUIC's own
 * keep-alive runs in the transport's threads and still ends the connection of a killed peer
 * (dht-liveness.test.ts). The monitor is off (host.ts): an idle connection costs no heartbeat
 * pings either.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import type { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { startPeer, startChildPeers, quicOf, ask, type ChildPeers } from '../helpers/network-peer.ts'

interface Conn { id: string, status: string, remotePeer: { toString: () => string }, newStream: (protocols: string | string[], options?: unknown) => Promise<unknown> }
type Node = { getConnections: () => Conn[], addEventListener: (type: 'connection:close', fn: (e: CustomEvent<Conn>) => void) => void }
const nodeOf = (net: PhaseNetwork): Node => (net as unknown as { node: Node }).node

/** libp2p's connection monitor's default heartbeat interval, ms. */
const LIBP2P_HEARTBEAT_MS = 10_000

describe('p2p connections', () => {
  let a: PhaseNetwork | undefined
  let peers: ChildPeers | undefined

  beforeAll(async () => {
    a = await startPeer()
    peers = await startChildPeers(1, quicOf(a))
  })

  afterAll(async () => {
    await peers?.kill()
    await a?.stop()
  })

  it('keeps the connection to a peer whose event loop is busy past the heartbeat deadline', async () => {
    const node = nodeOf(a!)
    const peer = peers!.ids[0]!
    const before = node.getConnections().filter((c) => c.status === 'open' && c.remotePeer.toString() === peer).map((c) => c.id)
    expect(before.length).toBeGreaterThan(0)
    const closed: string[] = []
    node.addEventListener('connection:close', (e) => { if (e.detail.remotePeer.toString() === peer) closed.push(e.detail.id) })
    // Longer than libp2p's default heartbeat interval (10 s) plus its monitor's shortest ping
    // deadline (5 s): were the monitor on, at least one heartbeat would go unanswered past it.
    const blockMs = LIBP2P_HEARTBEAT_MS + 7000
    expect(await ask<number>(peers!, { cmd: 'block', ms: blockMs })).toBe(blockMs)
    expect(closed).toEqual([])
    const after = node.getConnections().filter((c) => c.status === 'open' && c.remotePeer.toString() === peer).map((c) => c.id)
    expect(after).toEqual(expect.arrayContaining(before))
  }, 60_000)

  it('sends no heartbeat pings on an idle connection', async () => {
    const node = nodeOf(a!)
    const peer = peers!.ids[0]!
    const open = node.getConnections().filter((c) => c.status === 'open' && c.remotePeer.toString() === peer)
    expect(open.length).toBeGreaterThan(0)
    const pings: string[] = []
    for (const c of open) {
      const newStream = c.newStream.bind(c)
      c.newStream = async (protocols, options) => {
        if ([protocols].flat().some((p) => p.includes('/ping/'))) pings.push(c.id)
        return await newStream(protocols, options)
      }
    }
    // More than one heartbeat interval of the monitor's default: it would have pinged once.
    await new Promise((resolve) => setTimeout(resolve, LIBP2P_HEARTBEAT_MS + 2000))
    expect(pings).toEqual([])
  }, 30_000)
})
