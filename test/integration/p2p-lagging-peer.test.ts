/**
 * A peer whose event loop is busy for seconds (a loaded host, a long synchronous task) is slow,
 * not gone: its connections stay. libp2p's connection monitor aborted a connection whose 10 s
 * heartbeat ping got no answer within 5 s; on a loaded 50-node loopback cluster that dropped
 * healthy connections in waves, the DHT redialed them and its routing tables stalled. QUIC's own
 * keep-alive runs in the transport's threads and still ends the connection of a killed peer
 * (dht-liveness.test.ts).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import type { PhaseNetwork } from '../../services/discovery/src/p2p/index.ts'
import { CONNECTION_MONITOR } from '../../services/discovery/src/p2p/host.ts'
import { startPeer, startChildPeers, quicOf, ask, type ChildPeers } from '../helpers/network-peer.ts'

interface Conn { id: string, status: string, remotePeer: { toString: () => string } }
type Node = { getConnections: () => Conn[], addEventListener: (type: 'connection:close', fn: (e: CustomEvent<Conn>) => void) => void }
const nodeOf = (net: PhaseNetwork): Node => (net as unknown as { node: Node }).node

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
    // Longer than one heartbeat interval plus the monitor's shortest ping deadline (5 s): at
    // least one heartbeat ping goes unanswered past its deadline.
    const blockMs = CONNECTION_MONITOR.pingInterval + 7000
    expect(await ask<number>(peers!, { cmd: 'block', ms: blockMs })).toBe(blockMs)
    expect(closed).toEqual([])
    const after = node.getConnections().filter((c) => c.status === 'open' && c.remotePeer.toString() === peer).map((c) => c.id)
    expect(after).toEqual(expect.arrayContaining(before))
  }, 60_000)
})
