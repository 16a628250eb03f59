/**
 * Fail-over under churn (DESIGN §7, issue 3): a client keeps jobs in flight across a 20-node
 * network (real libp2p hosts, the real job protocol, JobRunner, V8 runtime and Ed25519 receipts;
 * the nodes share this process and one executor pool) and 20% of the nodes are stopped mid-run.
 * Target: no job fails. Every result's receipt is checked against the dialed peer's bound key.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createReceiptSigner } from '../services/core/protocol/src/crypto/sign.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { parseManifest } from '../services/core/protocol/src/documents/manifest.ts'
import { silentLogger } from '../services/core/process/src/logger.ts'
import type { LimitsConfig } from '../services/core/process/src/config.ts'
import { createV8Runtime } from '../services/executor/src/index.ts'
import { JobRunner } from '../services/discovery/src/jobs.ts'
import { PhaseNetwork } from '../services/discovery/src/p2p/index.ts'
import { ROOT } from '../test/helpers/node-harness.ts'
import type { Row } from './stats.ts'

const LIMITS: LimitsConfig = { maxModuleBytes: 1 << 20, maxMemoryMb: 64, defaultMemoryMb: 16, maxTimeoutMs: 10_000, defaultTimeoutMs: 5000, maxOutputBytes: 1 << 20, defaultOutputBytes: 1 << 16, maxStdinBytes: 1 << 16, maxArgsBytes: 1 << 16 }
const P2P = { listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, relayServer: false, upnp: false, privateAddresses: true, inboundPerSecond: 10_000, maxConnections: 200, maxRemoteJobs: 64, perPeerConcurrency: 64, perPeerPerSecond: 10_000, limits: LIMITS, maxMessageBytes: 4 << 20 }

export async function failoverRows (quick: boolean): Promise<Row[]> {
  const size = 20
  const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
  const runtime = createV8Runtime({ workers: 2, queueCapacity: 4096 })
  await runtime.start()
  const nodes: PhaseNetwork[] = []
  try {
    for (let i = 0; i < size; i++) nodes.push(await startNode(runtime, i === 0 ? [] : [nodes[0]!.addresses()[0]!]))
    const client = await startNode(runtime, [])
    nodes.push(client)
    for (const n of nodes.slice(0, size)) await client.dial(n.addresses()[0]!)
    const killed = new Set<number>()
    const durationMs = quick ? 4000 : 10_000
    let done = 0
    let failed = 0
    const end = performance.now() + durationMs
    const kill = setTimeout(() => {
      // 20% of the network, never the client: stop 4 random nodes while jobs are in flight.
      while (killed.size < size / 5) killed.add(1 + Math.floor(Math.random() * (size - 1)))
      for (const i of killed) void nodes[i]!.stop()
    }, durationMs / 3)
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        const manifest = parseManifest({ version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: ['churn'] })
        try {
          await client.runRemote(manifest, async () => hello, { timeoutMs: 10_000 })
          done++
        } catch {
          failed++
        }
      }
    }))
    clearTimeout(kill)
    return [{ metric: `jobs failed while 20% of a ${size}-node network stopped mid-run`, value: `${failed} of ${done + failed}`, floor: '', ratio: '', target: '0 failed' }]
  } finally {
    await Promise.all(nodes.map(async (n) => await n.stop().catch(() => {})))
    await runtime.stop()
  }
}

async function startNode (runtime: ReturnType<typeof createV8Runtime>, bootstrap: string[]): Promise<PhaseNetwork> {
  const signer = createReceiptSigner(randomBytes(32))
  const privateKey = await generateKeyPair('Ed25519')
  const modules = new Map<string, Uint8Array>()
  const logger = silentLogger()
  let peerId = ''
  const jobs = new JobRunner({
    logger,
    modules: { has: (h) => modules.has(h), get: async (h) => modules.get(h), put: async (h, b) => { modules.set(h, b) } },
    // The real signing path, in-process instead of over a socket.
    signer: { publicKey: async () => signer.publicKey, sign: async (u) => ({ receiptJson: signer.sign(u).canonical }) },
    executors: {
      async execute (req, loadModule) {
        const r = await runtime.run({ jobId: req.jobId, moduleHash: req.moduleHash, module: runtime.hasModule(req.moduleHash) ? undefined : await loadModule(), args: req.args, env: req.env, stdin: req.stdin, limits: { memoryBytes: Number(req.limits.memoryBytes), timeoutMs: req.limits.timeoutMs, outputBytes: Number(req.limits.outputBytes) } })
        return { executor: 0, response: { ...r, wallTimeUs: BigInt(r.wallTimeUs), cpuTimeUs: BigInt(r.cpuTimeUs), runtimeName: runtime.name, runtimeVersion: runtime.version } as never }
      }
    }
  }, { limits: LIMITS, get peerId () { return peerId }, maxInFlight: 1024 })
  const network = new PhaseNetwork({ logger, privateKey, jobs, modules, receiptKey: async () => signer.publicKey, runtime: async () => ({ name: runtime.name, version: runtime.version }) }, { ...P2P, bootstrap })
  await network.start()
  peerId = network.peerId
  return network
}
