/**
 * Hosts in network namespaces that this test creates (root only), each with its own address:
 *
 *   ns "sw": bridge br0, 10.231.0.0/24 (the "internet" of the test)
 *     ├─ relay        10.231.0.10   a Phase node with relay_server: true
 *     ├─ gw-n         10.231.0.1    NAT router ── 10.232.0.0/24: natted    10.232.0.2
 *     └─ gw-s         10.231.0.2    NAT router ── 10.233.0.0/24: submitter 10.233.0.2
 *
 * Each router masquerades its inside network behind its outside address (nftables) and lets in
 * only replies to connections made from inside; nobody has a route to the other's inside
 * network. So neither NAT'd node can open a connection to the other, in either direction: the
 * relay is the only path between them. (With the submitter on the bridge, the NAT'd node would
 * dial out to it through its DHT, and jobs would ride that outbound connection, not the relay.) The NAT'd node reserves a slot on the relay (it listens on
 * `<relay>/p2p-circuit`) and the submitter runs a job on it by PeerId over a relayed connection;
 * the receipt is checked against the NAT'd node's key.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceipt } from '../../services/core/protocol/src/crypto/verify.ts'
import { Lab, netnsUnavailable, run, startNsNode, tcpProbe, until, ROOT, type NsNode } from '../helpers/netns.ts'

const unavailable = await netnsUnavailable()
if (unavailable !== undefined) console.warn(`SKIPPED test/netns/nat-relay.test.ts: ${unavailable}`)
const maybe = unavailable === undefined ? describe : describe.skip

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const enc = new TextEncoder()
const dec = new TextDecoder()

const RELAY = '10.231.0.10'
const GW_N = '10.231.0.1'
const NATTED = '10.232.0.2'
const GW_S = '10.231.0.2'
const SUBMITTER = '10.233.0.2'

const p2p = (ip: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  enabled: true,
  listen: [`/ip4/${ip}/udp/0/quic-v1`, `/ip4/${ip}/tcp/0`],
  mdns: false,
  upnp: false,
  // The whole test network is private address space: keep it in the DHT.
  private_addresses: true,
  ...extra
})

function manifest (args: string[]): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(HELLO), nonce: randomBytes(16).toString('hex'), args }))
}

maybe('hosts in network namespaces, behind NATs, joined by a relay', () => {
  const lab = new Lab()
  const nodes: NsNode[] = []
  const clients: Array<GrpcClient<typeof NodeService>> = []
  const ns = { sw: '', relay: '', gwn: '', natted: '', gws: '', submitter: '' }
  let relay: NsNode, submitter: NsNode, natted: NsNode
  let relayRpc: GrpcClient<typeof NodeService>, submitterRpc: GrpcClient<typeof NodeService>, nattedRpc: GrpcClient<typeof NodeService>
  let nattedId = ''

  const rpc = (n: NsNode): GrpcClient<typeof NodeService> => {
    const c = createGrpcClient(NodeService, n.grpc, { maxMessageBytes: 64 << 20 })
    clients.push(c)
    return c
  }
  const node = async (where: string, config: Record<string, unknown>): Promise<NsNode> => {
    // PHASE_NETNS_DEBUG=libp2p:* passes DEBUG to the nodes: their libp2p logs join the failure messages.
    const n = await startNsNode(where, { executors: 1, config, env: process.env.PHASE_NETNS_DEBUG !== undefined ? { DEBUG: process.env.PHASE_NETNS_DEBUG } : {} })
    nodes.push(n)
    return n
  }

  beforeAll(async () => {
    for (const tag of Object.keys(ns) as Array<keyof typeof ns>) ns[tag] = await lab.host(tag)
    await lab.bridge(ns.sw)
    await lab.plug(ns.sw, 'p-relay', ns.relay, `${RELAY}/24`)
    // A host on a /24 of its own behind a NAT router plugged into the bridge.
    const behindNat = async (gw: string, port: string, outside: string, host: string, inside: string): Promise<void> => {
      const router = inside.replace(/\.\d+$/, '.1')
      await lab.plug(ns.sw, port, gw, `${outside}/24`)
      await lab.link(gw, 'inside', host, 'eth0')
      await lab.addr(gw, 'inside', `${router}/24`)
      await lab.addr(host, 'eth0', `${inside}/24`)
      await lab.route(host, 'default', 'via', router)
      await lab.nat(gw, 'inside', 'eth0')
    }
    await behindNat(ns.gwn, 'p-gwn', GW_N, ns.natted, NATTED)
    await behindNat(ns.gws, 'p-gws', GW_S, ns.submitter, SUBMITTER)

    relay = await node(ns.relay, { p2p: p2p(RELAY, { relay_server: true }) })
    relayRpc = rpc(relay)
    const relayQuic = relay.p2p.find((a) => a.includes('/quic-v1'))!
    // Listening on the relay's address + /p2p-circuit makes a reservation there.
    natted = await node(ns.natted, { p2p: p2p(NATTED, { bootstrap: [relayQuic], listen: [`/ip4/${NATTED}/udp/0/quic-v1`, `/ip4/${NATTED}/tcp/0`, `${relayQuic}/p2p-circuit`] }) })
    nattedRpc = rpc(natted)
    nattedId = (await nattedRpc.getNodeInfo({})).peerId
    // The NAT'd node is reachable once the relay knows its circuit address (identify push after
    // the reservation); a submitter that joins before that could learn only its direct addresses.
    await until('the NAT\'d node\'s relay reservation', 20_000, async () => {
      const peers = (await relayRpc.listPeers({})).peers
      return peers.find((p) => p.peerId === nattedId)?.addresses.some((a) => a.includes('/p2p-circuit')) === true ? true : undefined
    }).catch((err: Error) => { throw new Error(`${err.message}\n--- natted discovery log:\n${natted.log('discovery')}`) })
    submitter = await node(ns.submitter, { p2p: p2p(SUBMITTER, { bootstrap: [relayQuic] }) })
    submitterRpc = rpc(submitter)
  }, 60_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    // Dialers before the relay they go through, then the namespaces, even after a failure.
    try {
      await Promise.allSettled(nodes.filter((n) => n !== relay).map(async (n) => await n.stop()))
      await Promise.allSettled(nodes.filter((n) => n === relay).map(async (n) => await n.stop()))
    } finally {
      await lab.destroy()
    }
  }, 30_000)

  it('lets each NAT\'d host out through its NAT and nobody in', async () => {
    const tcpPort = (n: NsNode): number => Number(/\/tcp\/(\d+)/.exec(n.p2p.find((a) => a.includes('/tcp/'))!)![1])
    const [out, direct, viaGw, back] = await Promise.all([
      tcpProbe(ns.natted, RELAY, tcpPort(relay)),
      tcpProbe(ns.submitter, NATTED, tcpPort(natted)),
      tcpProbe(ns.submitter, GW_N, tcpPort(natted), 1000),
      tcpProbe(ns.natted, SUBMITTER, tcpPort(submitter))
    ])
    expect(out).toBe('connected')
    // Refused in some way (no route: ENETUNREACH, or ETIMEDOUT once the router rate-limits its
    // ICMP errors; the NAT's outside address drops new connections: ETIMEDOUT), never connected.
    for (const r of [direct, viaGw, back]) expect(r).toMatch(/^E(NETUNREACH|HOSTUNREACH|TIMEDOUT)$/)
    // The NAT'd node's connection to the relay was translated to the router's outside address.
    const esc = (ip: string): string => ip.replaceAll('.', '\\.')
    const conntrack = await lab.exec(ns.gwn, 'cat', ['/proc/net/nf_conntrack'])
    expect(conntrack).toMatch(new RegExp(`src=${esc(NATTED)} dst=${esc(RELAY)} .*src=${esc(RELAY)} dst=${esc(GW_N)}`))
  })

  it('runs a job submitted on one host on the NAT\'d host, through the relay', async () => {
    const target = await nattedRpc.getNodeInfo({})
    const withLogs = (err: Error): never => {
      throw new Error(`${err.message}\n--- submitter discovery log:\n${submitter.log('discovery')}\n--- natted discovery log:\n${natted.log('discovery')}`)
    }
    let started = performance.now()
    const res = await submitterRpc.submitJob({ manifestJson: manifest(['behind a NAT']), module: HELLO, peerId: target.peerId }).catch(withLogs)
    const firstMs = performance.now() - started
    expect(dec.decode(res.stdout)).toBe('TAN a dniheb\n')
    expect(res.peerId).toBe(target.peerId)
    const { receipt } = await verifyReceipt(res.receiptJson, { publicKey: target.receiptPublicKey, peerId: target.peerId, outputs: { stdout: res.stdout, stderr: res.stderr } })
    expect(receipt.node.peer_id).toBe(target.peerId)

    // The submitter reached it over the relay: the only way in.
    const peer = (await submitterRpc.listPeers({})).peers.find((p) => p.peerId === target.peerId)
    expect(peer?.transport).toBe('relay')

    // A second job runs on the relayed connection already open, without dialing again (a redial
    // tries the unreachable direct addresses first: seconds), and sends only the module hash.
    started = performance.now()
    const again = await submitterRpc.submitJob({ manifestJson: manifest(['again']), peerId: target.peerId }).catch(withLogs)
    const secondMs = performance.now() - started
    expect(dec.decode(again.stdout)).toBe('niaga\n')
    await verifyReceipt(again.receiptJson, { publicKey: target.receiptPublicKey, peerId: target.peerId })
    console.log(`netns: first job through the relay ${Math.round(firstMs)} ms (dial included), second ${Math.round(secondMs)} ms`)
    expect(secondMs).toBeLessThan(2500)
  })

  it('phase doctor on the NAT\'d node says it is behind a NAT and reachable only through the relay', async () => {
    type Report = { status: string, network: { reachability: string, relay_reservations: string[], nat: { behind_nat: boolean | null, observed_addresses: string[] } }, checks: Array<{ name: string, status: string, message: string }> }
    const report = async (c: GrpcClient<typeof NodeService>): Promise<Report> => JSON.parse(dec.decode((await c.diagnose({})).reportJson)) as Report
    // Each node hears where it is seen once a peer has identified it (a connection made).
    const observed = async (c: GrpcClient<typeof NodeService>, who: string): Promise<Report> => await until(`${who} to be told where peers see it`, 20_000, async () => {
      const r = await report(c)
      return r.network.nat.behind_nat === null ? undefined : r
    })
    const [n, s, r] = await Promise.all([observed(nattedRpc, 'the NAT\'d node'), observed(submitterRpc, 'the submitter'), observed(relayRpc, 'the relay')])
    // Peers see the NAT'd node at its router's outside address, not the address it listens on.
    expect(n.network.nat.behind_nat).toBe(true)
    expect(n.network.nat.observed_addresses.some((a) => a.startsWith(`/ip4/${GW_N}/`))).toBe(true)
    expect(n.network.reachability).toBe('relayed')
    expect(n.network.relay_reservations.length).toBeGreaterThan(0)
    expect(n.checks.find((c) => c.name === 'reachability')).toEqual(expect.objectContaining({ status: 'warn', message: expect.stringContaining('behind a NAT') }))
    // The submitter is behind a NAT too, with no reservation: nobody can dial it.
    expect(s.network.nat.behind_nat).toBe(true)
    expect(s.network.reachability).toBe('private')
    // The relay is seen where it listens.
    expect(r.network.nat.behind_nat).toBe(false)
    // The CLI prints it and exits 1 (warnings), from the host's namespace through the socket.
    const cli = await run(join(ROOT, 'bin/phase'), ['doctor', '--api', natted.grpc])
    console.log(`phase doctor on the NAT'd node (exit ${cli.code}):\n${cli.stdout}`)
    expect(cli.code).toBe(1)
    expect(cli.stdout).toMatch(/warn\s+reachability\s+relayed: behind a NAT/)
  }, 60_000)
})
