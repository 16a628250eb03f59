/**
 * A remote warm job between two real nodes on loopback, forced onto one transport: both nodes
 * listen on that transport only, and B joins through A's address. Jobs go to B's public API
 * naming A, so each one is B's API hop + one `/phase/job/2.0.0` round trip on a reused stream
 * (hash only: A has the module after the first job) + A's full local job + B's receipt check.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { verifyReceiptNode } from '../services/core/protocol/src/crypto/verify-node.ts'
import { parseManifest } from '../services/core/protocol/src/documents/manifest.ts'
import { JOB_PROTOCOL_2, jobChannel, runJob2 } from '../services/discovery/src/p2p/job-protocol-2.ts'
import { JOB_PROTOCOL, offerJob } from '../services/discovery/src/p2p/job-protocol.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { ROOT, startTestNode, type TestNode } from '../test/helpers/node-harness.ts'
import { LISTEN, bareHost, bareEcho, type Transport } from './network-floor.ts'
import { timeSeq, median, percentile, fmtMs, printTable, type Row } from './stats.ts'
import { streamedClient } from './streamed.ts'
import { processCpuMs } from './cpu-per-job.ts'
import { startGuardedChain } from './shape-chain.ts'

/**
 * The latencies are taken in the same loop, one sample of each per round (remote job, bare
 * round trips, local jobs, the guarded shape's job, direct jobs), so a loaded machine weighs on
 * the job and its floors alike; the receipt check and the CPU figures are taken after it.
 */
export interface RemoteFigures {
  /** ms per bare libp2p request/response on a new stream (the floor). */
  bare: number[]
  /** ms per bare libp2p request/response on one reused stream (2.0.0's own floor). */
  reused: number[]
  /** ms per remote warm job, submitted to B for A. */
  remote: number[]
  /** ms per local warm job on A, through A's own API. */
  localOnA: number[]
  /** The same two through SubmitJobStream, as PhaseClient sends them (the unary call above is what other gRPC clients use). */
  remoteStream: number[]
  localOnAStream: number[]
  /**
   * ms per job on the guarded shape's stream (shape-chain.ts startGuardedChain: discovery's and the
   * signer's per-job guarantee work in plain code on the bare three-process shape): A's local job
   * as low as the shape goes with those guarantees kept.
   */
  guardedLocal: number[]
  /** ms per job offered to A straight from a bare libp2p host here (no B, no receipt check), 2.0.0 on one stream. */
  direct: number[]
  /** The same over 1.0.0 (a new stream per job: offer → accept → result), as before 2.0.0. */
  direct1: number[]
  /** ms per receipt check as B does it (node:crypto, all checks). */
  verify: number[]
  /** CPU ms per job (user + system, from /proc) of B's and A's discovery: remote jobs alone, then 2.0.0 and 1.0.0 jobs straight to A. */
  cpu: { remoteB: number, remoteA: number, direct2A: number, direct1A: number }
  /** The transport B's connection to A uses, as B reports it. */
  seen: string
}

const enc = new TextEncoder()

type Client = GrpcClient<typeof NodeService>

export async function remoteJobFigures (transport: Transport, modulePath: string, args: string[], n: number): Promise<RemoteFigures> {
  const module = new Uint8Array(await readFile(modulePath))
  const hash = contentHash(module)
  const manifest = (): Uint8Array => enc.encode(JSON.stringify({ version: 1, module_hash: hash, nonce: randomBytes(16).toString('hex'), args }))
  const p2p = { enabled: true, listen: [LISTEN[transport]], mdns: false, private_addresses: true, inbound_per_second: 1000 }
  const nodes: TestNode[] = []
  const clients: Client[] = []
  try {
    // A's per-peer rate limit (default 50 jobs/s) would refuse a sequential client on loopback.
    const a = await startTestNode({ executors: 1, config: { p2p: { ...p2p, per_peer_jobs_per_second: 100_000 } } })
    nodes.push(a)
    const b = await startTestNode({ executors: 1, config: { p2p: { ...p2p, bootstrap: [a.p2p[0]!] } } })
    nodes.push(b)
    const ca = createGrpcClient(NodeService, a.grpc, { maxMessageBytes: 256 << 20 })
    const cb = createGrpcClient(NodeService, b.grpc, { maxMessageBytes: 256 << 20 })
    const { client: cas, check: checkA } = streamedClient(a.grpc)
    const { client: cbs, check: checkB } = streamedClient(b.grpc)
    clients.push(ca, cb, cas, cbs)
    const { peerId: idA, receiptPublicKey: keyA } = await ca.getNodeInfo({})
    const deadline = Date.now() + 20_000
    let seen = ''
    while (seen === '') {
      const peer = (await cb.listPeers({})).peers.find((p) => p.peerId === idA && p.runsJobs)
      if (peer !== undefined) seen = peer.transport
      else if (Date.now() > deadline) throw new Error(`node B never saw node A over ${transport}`)
      else await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const first = await cb.submitJob({ manifestJson: manifest(), module, peerId: idA })
    if (first.peerId !== idA) throw new Error(`the job ran on ${first.peerId}, not on A`)
    const echo = await bareEcho(transport)
    const direct = await directJobs(a.p2p[0]!, manifest).catch(async (err: unknown) => { await Promise.allSettled([echo.stop()]); throw err })
    const guarded = await startGuardedChain(modulePath, manifest).catch(async (err: unknown) => { await Promise.allSettled([echo.stop(), direct.stop()]); throw err })
    try {
      const steps = {
        remote: async () => await cb.submitJob({ manifestJson: manifest(), peerId: idA }),
        bare: echo.newStream,
        reused: echo.reused,
        localOnA: async () => await ca.submitJob({ manifestJson: manifest() }),
        direct: direct.run,
        direct1: direct.run1,
        remoteStream: async () => await cbs.submitJob({ manifestJson: manifest(), peerId: idA }),
        localOnAStream: async () => await cas.submitJob({ manifestJson: manifest() }),
        guardedLocal: guarded.streamCall
      }
      const out: Record<keyof typeof steps, number[]> = { remote: [], bare: [], reused: [], localOnA: [], direct: [], direct1: [], remoteStream: [], localOnAStream: [], guardedLocal: [] }
      const warmup = Math.min(100, n)
      for (let i = 0; i < warmup + n; i++) {
        for (const [name, step] of Object.entries(steps)) {
          const t = performance.now()
          await step()
          if (i >= warmup) out[name as keyof typeof steps].push(performance.now() - t)
        }
      }
      // CPU per job: load stretches wall time, not the CPU a job costs each process.
      const pidA = a.procs.get('discovery')!.child.pid!
      const pidB = b.procs.get('discovery')!.child.pid!
      const cpuOf = async (fn: () => Promise<unknown>): Promise<[number, number]> => {
        const a0 = processCpuMs(pidA)
        const b0 = processCpuMs(pidB)
        for (let i = 0; i < n; i++) await fn()
        return [(processCpuMs(pidA) - a0) / n, (processCpuMs(pidB) - b0) / n]
      }
      checkA(warmup + n)
      checkB(warmup + n)
      const [remoteA, remoteB] = await cpuOf(steps.remote)
      const [direct2A] = await cpuOf(steps.direct)
      const [direct1A] = await cpuOf(steps.direct1)
      const cpu = { remoteA, remoteB, direct2A, direct1A }
      const last = await cb.submitJob({ manifestJson: manifest(), peerId: idA })
      const verify = await timeSeq(n, warmup, async () => verifyReceiptNode(last.receiptJson, { publicKey: keyA, peerId: idA, outputs: { stdout: last.stdout, stderr: last.stderr } }))
      const now = (await cb.listPeers({})).peers.find((p) => p.peerId === idA)?.transport ?? 'gone'
      return { ...out, verify, cpu, seen: now === seen ? seen : `${seen}→${now}` }
    } finally {
      await Promise.allSettled([direct.stop(), echo.stop(), guarded.stop()])
    }
  } finally {
    for (const c of clients) c.close()
    // B dialed A: stop the dialer first.
    for (const node of nodes.reverse()) await node.stop()
  }
}

/** `/phase/job/2.0.0` from a bare host in this process to the node at `address`, every job on one stream. */
async function directJobs (address: string, manifest: () => Uint8Array): Promise<{ run: () => Promise<unknown>, run1: () => Promise<unknown>, stop: () => Promise<void> }> {
  const host = await bareHost([])
  const target = multiaddr(address)
  const noModule = async (): Promise<Uint8Array> => { throw new Error('the node should have the module') }
  const open = async (): Promise<ReturnType<typeof jobChannel>> => jobChannel(await host.dialProtocol(target, JOB_PROTOCOL_2), 4 << 20)
  let ch: ReturnType<typeof jobChannel>
  try {
    await host.dial(target)
    ch = await open()
  } catch (err) {
    await host.stop()
    throw err
  }
  return {
    run: async () => {
      // A ends a stream left idle past its read deadline (while other steps ran): open another.
      if (ch.stream.status !== 'open' || ch.stream.remoteWriteStatus !== 'writable') ch = await open()
      return await runJob2(ch, parseManifest(manifest()), noModule, {})
    },
    run1: async () => await offerJob(await host.dialProtocol(target, JOB_PROTOCOL), parseManifest(manifest()), noModule, { maxMessageBytes: 4 << 20 }),
    stop: async () => { await host.stop() }
  }
}

/** DESIGN's budget for a remote warm job above a bare libp2p round trip. */
const REMOTE_BUDGET_MS = 1.5

/** The remote rows, QUIC then TCP; `rt` gets each transport's bare round trip (the DHT rows' floor). */
export async function remoteRows (quick: boolean, rt: Partial<Record<Transport, number>> = {}): Promise<Row[]> {
  const rows: Row[] = []
  const row = (metric: string, value: string, floor = '', ratio = '', target = ''): void => { rows.push({ metric, value, floor, ratio, target }) }
  const x = (value: number, floor: number): string => `${(value / floor).toFixed(1)}×`
  const n = quick ? 200 : 1000
  for (const transport of ['quic', 'tcp'] as const) {
    process.stderr.write(`remote jobs over ${transport}…\n`)
    const f = await remoteJobFigures(transport, join(ROOT, 'examples/hello/hello.wasm'), ['Hello, World'], n)
    const { bare, reused } = f
    const floor = median(bare)
    rt[transport] = floor
    const remote = median(f.remote)
    const local = median(f.localOnA)
    const T = transport.toUpperCase()
    row(`remote warm job p50, ${T} (B's API → A by PeerId, hash only)`, fmtMs(remote), `${fmtMs(floor)} bare libp2p rt`, x(remote, floor), `≤ ${fmtMs(floor + REMOTE_BUDGET_MS)} (rt + 1.5 ms)`)
    row(`remote warm job p90, ${T}`, fmtMs(percentile(f.remote, 90)), `${fmtMs(percentile(bare, 90))} rt p90`, x(percentile(f.remote, 90), percentile(bare, 90)), '')
    row(`remote warm job p99, ${T}`, fmtMs(percentile(f.remote, 99)), `${fmtMs(percentile(bare, 99))} rt p99`, '', '')
    row('  bare libp2p rt on one reused stream (2.0.0\'s own floor)', fmtMs(median(reused)), '', '', '')
    row(`  local warm job p50 on A (A's API)`, fmtMs(local), '', '', '')
    // As the SDK sends jobs (PhaseClient: SubmitJobStream), which spares each a new HTTP/2 stream.
    const remoteStream = median(f.remoteStream)
    row(`  the same remote job on SubmitJobStream (as PhaseClient), p50`, fmtMs(remoteStream), `${fmtMs(floor)} bare libp2p rt`, x(remoteStream, floor), `≤ ${fmtMs(floor + REMOTE_BUDGET_MS)} (rt + 1.5 ms)`)
    row(`  local warm job p50 on A on SubmitJobStream`, fmtMs(median(f.localOnAStream)), '', '', '')
    row('  remote on SubmitJobStream beside A\'s local job on it + bare rt', fmtMs(remoteStream), fmtMs(median(f.localOnAStream) + floor), x(remoteStream, median(f.localOnAStream) + floor), '')
    row('  remote beside A\'s local job + bare rt', fmtMs(remote), fmtMs(local + floor), x(remote, local + floor), '')
    // What the shape cannot drop: B's API hop and A's job (A's local job through A's API is
    // both), the job and its result across one reused stream, and B's receipt check. The rest
    // is B's own cost as a client of the job protocol (routing, framing, its stream I/O).
    const shape = local + median(reused) + median(f.verify)
    row('  remote beside its shape floor (A\'s local job + reused rt + B\'s receipt check)', fmtMs(remote), fmtMs(shape), x(remote, shape), `B's own: ${fmtMs(remote - shape)}`)
    // The same floor with A's job as low as the three-process shape takes it while keeping
    // discovery's and the signer's guarantees (the guarded shape, timed in the same rounds): the
    // part of the budget no build of the node can give back on this machine.
    const guardedLocal = median(f.guardedLocal)
    const guardedFloor = guardedLocal + median(reused) + median(f.verify)
    row('  guarded shape\'s local job p50 on its stream (discovery\'s and the signer\'s guarantee work in plain code)', fmtMs(guardedLocal), '', '', '')
    row('  remote on SubmitJobStream beside the floor with the guarantees (guarded local job + reused rt + B\'s receipt check)', fmtMs(remoteStream), fmtMs(guardedFloor), x(remoteStream, guardedFloor),
      `floor ${guardedFloor <= floor + REMOTE_BUDGET_MS ? 'within' : 'above'} rt + 1.5 ms (${fmtMs(floor + REMOTE_BUDGET_MS)})`)
    row('  job protocol straight to A (bare host, no B), 2.0.0', fmtMs(median(f.direct)), fmtMs(local + floor), x(median(f.direct), local + floor), '')
    row('  the same over 1.0.0 (new stream, offer → accept → result)', fmtMs(median(f.direct1)), fmtMs(local + floor), x(median(f.direct1), local + floor), '')
    row('  B\'s receipt check alone (node:crypto, all checks)', fmtMs(median(f.verify)), '', '', '')
    row('  CPU per remote job: B\'s discovery / A\'s discovery', `${fmtMs(f.cpu.remoteB)} / ${fmtMs(f.cpu.remoteA)}`, '', '', '')
    row('  CPU per job straight to A, A\'s discovery: 2.0.0 / 1.0.0', `${fmtMs(f.cpu.direct2A)} / ${fmtMs(f.cpu.direct1A)}`, '', '', '')
    if (f.seen !== transport) row(`  (B reached A over ${f.seen}, not ${transport})`, '', '', '', '')
  }
  return rows
}

// `node bench/network-remote.ts [--quick]`: the remote rows alone.
if (import.meta.main) printTable(await remoteRows(process.argv.includes('--quick')))
