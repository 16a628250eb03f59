/**
 * Phase network nodes (PhaseNetwork: the node's own libp2p host, DHT and FindExecutors) with
 * stub jobs, on loopback, for tests and the bench. `startPeers` runs them in this process;
 * `network-peer-child.ts` runs them in a child process that a test or bench can SIGKILL (a
 * killed node sends nothing: no FIN from libp2p, QUIC learns of it from its idle timeout).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { PhaseNetwork, type NetworkComponents, type NetworkInit } from '../../services/discovery/src/p2p/index.ts'

export const LOOPBACK = ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0']

/** `jobs`: what the node does with a job it is sent (default: refuses it as an internal error). */
export async function startPeer (bootstrap: readonly string[] = [], listen: readonly string[] = LOOPBACK, init: Partial<NetworkInit> = {}, jobs: NetworkComponents['jobs'] = { running: 0, run: async () => { throw new Error('no jobs here') } }): Promise<PhaseNetwork> {
  const key = await generateKeyPair('Ed25519')
  const net = new PhaseNetwork({
    logger: silentLogger(),
    privateKey: key,
    modules: { has: () => false },
    receiptKey: async () => 'ab'.repeat(32),
    runtime: async () => ({ name: 'v8-wasm', version: 'test' }),
    jobs
  }, {
    listen, bootstrap, mdns: false, relayServer: false, upnp: false,
    privateAddresses: true, maxConnections: 300, inboundPerSecond: 100_000, maxRemoteJobs: 4, perPeerConcurrency: 4, perPeerPerSecond: 100,
    limits: { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 64, maxTimeoutMs: 5000, defaultTimeoutMs: 5000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 20, maxStdinBytes: 1 << 20, maxArgsBytes: 1 << 16 },
    maxMessageBytes: 4 << 20,
    ...init
  })
  await net.start()
  return net
}

/** The QUIC address of a node, to join through. */
export const quicOf = (net: PhaseNetwork): string => net.addresses().find((a) => a.includes('/quic'))!

export interface ChildPeers {
  child: ChildProcess
  ids: string[]
  addresses: string[][]
  /** SIGKILL: the nodes vanish without a word. */
  kill: () => Promise<void>
  /** SIGSTOP: the nodes stop answering, their TCP connections stay open (a host cut off the network). */
  freeze: () => void
}

/** `count` nodes in a child process, each joined through `seed`; `tcpOnly`: no QUIC listener. */
export async function startChildPeers (count: number, seed: string, tcpOnly = false): Promise<ChildPeers> {
  const child = fork(new URL('./network-peer-child.ts', import.meta.url).pathname, [String(count), seed, tcpOnly ? 'tcp' : 'all'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const ready = await new Promise<{ ids: string[], addresses: string[][] }>((resolve, reject) => {
    child.once('message', (m) => { resolve(m as { ids: string[], addresses: string[][] }) })
    child.once('exit', (code) => { reject(new Error(`peer child exited with ${code}`)) })
  })
  child.removeAllListeners('exit')
  return {
    child,
    ...ready,
    freeze: () => { child.kill('SIGSTOP') },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  }
}

/** Peers in a node's DHT routing table (the bench and tests reach inside the node). */
export function tableSize (net: PhaseNetwork): number {
  return (net as unknown as { dhtPeers: () => number }).dhtPeers()
}

/** Open connections of a node, by remote PeerId. */
export function connectionsOf (net: PhaseNetwork): Map<string, number> {
  const node = (net as unknown as { node?: { getConnections: () => Array<{ status: string, remotePeer: { toString: () => string } }> } }).node
  const out = new Map<string, number>()
  for (const c of node?.getConnections() ?? []) if (c.status === 'open') out.set(c.remotePeer.toString(), (out.get(c.remotePeer.toString()) ?? 0) + 1)
  return out
}

export interface PeerStats { id: string, table: number, connections: Record<string, number> }

export const statsOf = (net: PhaseNetwork): PeerStats => ({ id: net.peerId, table: tableSize(net), connections: Object.fromEntries(connectionsOf(net)) })

/** Stats of every node of a child process. */
export async function childStats (peers: ChildPeers): Promise<PeerStats[]> {
  return await new Promise((resolve) => {
    peers.child.once('message', (m) => { resolve(m as PeerStats[]) })
    peers.child.send('stats')
  })
}

interface DhtLike {
  provide: (key: unknown, options: { signal: AbortSignal }) => AsyncIterable<unknown>
  findProviders: (key: unknown, options: { signal: AbortSignal }) => AsyncIterable<{ name: string, from: { toString: () => string }, providers?: Array<{ id: { toString: () => string } }> }>
}

/** The node's kad-dht service, seen as `T` (white-box tests and the bench). */
export function dhtOf<T = DhtLike> (net: PhaseNetwork): T {
  return (net as unknown as { node: { services: { dht: T } } }).node.services.dht
}

/** A request to a child process and its answer (one at a time per child). */
export async function ask<T> (peers: ChildPeers, msg: unknown): Promise<T> {
  return await new Promise((resolve) => {
    peers.child.once('message', (m) => { resolve(m as T) })
    peers.child.send(msg as never)
  })
}
