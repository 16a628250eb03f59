/**
 * LAN discovery as users run it: three hosts in network namespaces that this test creates (root
 * only), plugged into one bridge, each a whole Phase node with the default `mdns: true` and no
 * bootstrap list. Each must find the other two by mDNS *and connect to them* (a discovered peer
 * that is never dialled is useless), and a job sent with a target found that way runs there.
 *
 *   ns "sw": bridge br0, 10.234.0.0/24 (the LAN)
 *     ├─ a  10.234.0.11
 *     ├─ b  10.234.0.12
 *     └─ c  10.234.0.13
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceipt } from '../../services/core/protocol/src/crypto/verify.ts'
import { Lab, netnsUnavailable, startNsNode, until, ROOT, type NsNode } from '../helpers/netns.ts'

const unavailable = await netnsUnavailable()
if (unavailable !== undefined) console.warn(`SKIPPED test/netns/mdns.test.ts: ${unavailable}`)
const maybe = unavailable === undefined ? describe : describe.skip

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const enc = new TextEncoder()
const dec = new TextDecoder()
const HOSTS = { a: '10.234.0.11', b: '10.234.0.12', c: '10.234.0.13' }

maybe('LAN discovery (mDNS on, as by default; no bootstrap list)', () => {
  const lab = new Lab()
  const nodes: Record<string, NsNode> = {}
  const rpcs: Record<string, GrpcClient<typeof NodeService>> = {}
  const names: Record<string, string> = {}

  beforeAll(async () => {
    const sw = await lab.host('sw')
    await lab.bridge(sw)
    for (const [tag, ip] of Object.entries(HOSTS)) {
      const ns = names[tag] = await lab.host(tag)
      await lab.plug(sw, `p-${tag}`, ns, `${ip}/24`)
      // mDNS sends to 224.0.0.251: a host needs a route for it (a LAN host has its default route).
      await lab.route(ns, 'default', 'dev', 'eth0')
    }
    await Promise.all(Object.entries(HOSTS).map(async ([tag, ip]) => {
      // Only what the test must say: listen on this host's LAN address, keep private addresses
      // (the LAN is private address space). mdns is left at its default.
      nodes[tag] = await startNsNode(names[tag]!, {
        executors: 1,
        config: { p2p: { enabled: true, listen: [`/ip4/${ip}/udp/0/quic-v1`, `/ip4/${ip}/tcp/0`], private_addresses: true } }
      })
      rpcs[tag] = createGrpcClient(NodeService, nodes[tag]!.grpc, { maxMessageBytes: 64 << 20 })
    }))
  }, 90_000)

  afterAll(async () => {
    for (const c of Object.values(rpcs)) c.close()
    try {
      await Promise.allSettled(Object.values(nodes).map(async (n) => await n.stop()))
    } finally {
      await lab.destroy()
    }
  }, 30_000)

  it('connects every node to the other two, with no bootstrap list', async () => {
    const ids = Object.fromEntries(await Promise.all(Object.keys(HOSTS).map(async (tag) => [tag, (await rpcs[tag]!.getNodeInfo({})).peerId] as const)))
    for (const tag of Object.keys(HOSTS)) {
      const others = Object.entries(ids).filter(([t]) => t !== tag).map(([, id]) => id)
      await until(`${tag} connected to the other two`, 30_000, async () => {
        const peers = (await rpcs[tag]!.listPeers({})).peers.map((p) => p.peerId)
        return others.every((id) => peers.includes(id)) ? true : undefined
      }).catch((err: Error) => { throw new Error(`${err.message}\n--- ${tag} discovery log:\n${nodes[tag]!.log('discovery')}`) })
    }
  }, 60_000)

  it('runs a job on a peer found on the LAN, and the receipt verifies against its key', async () => {
    const target = await rpcs.b!.getNodeInfo({})
    const res = await rpcs.a!.submitJob({
      manifestJson: enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(HELLO), nonce: randomBytes(16).toString('hex'), args: ['on the LAN'] })),
      module: HELLO,
      peerId: target.peerId
    }).catch((err: Error) => { throw new Error(`${err.message}\n--- a's discovery log:\n${nodes.a!.log('discovery')}\n--- b's discovery log:\n${nodes.b!.log('discovery')}`) })
    expect(dec.decode(res.stdout)).toBe('NAL eht no\n')
    expect(res.peerId).toBe(target.peerId)
    const { receipt } = await verifyReceipt(res.receiptJson, { publicKey: target.receiptPublicKey, peerId: target.peerId, outputs: { stdout: res.stdout, stderr: res.stderr } })
    expect(receipt.node.peer_id).toBe(target.peerId)
  }, 60_000)

  it('sends a job with target: remote to a LAN peer it chose itself (no PeerId given)', async () => {
    const ids = await Promise.all(['b', 'c'].map(async (t) => (await rpcs[t]!.getNodeInfo({})).peerId))
    const res = await rpcs.a!.submitJob({
      manifestJson: enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(HELLO), nonce: randomBytes(16).toString('hex'), args: ['anyone'] })),
      module: HELLO,
      target: 'remote'
    })
    expect(dec.decode(res.stdout)).toBe('enoyna\n')
    expect(ids).toContain(res.peerId)
  }, 60_000)
})
