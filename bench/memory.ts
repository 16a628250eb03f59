/**
 * Memory (issue 11; targets: idle ≤ 300 MiB in all, ≤ 40 MiB per extra executor, every process
 * back within 20% of its idle figure after load and after 1,000 distinct modules): PSS per process
 * (/proc/PID/smaps_rollup: shared pages split between the processes mapping them, FACTS) of a node
 * as `npm start` runs it — bin/plasmd, pm2-runtime, signer, 2 executors, discovery — with p2p on
 * but listening on loopback only and no mDNS. A first start with a new state folder and an empty
 * compile cache (ops/compile-cache.ts) is measured idle and stopped; the node then restarts as it
 * does every later time. Idle (after one job), the peak while 16 clients send 2,000 hello jobs
 * (sampled every 50 ms), and after (5 s and SETTLE_MS; each process's ratio to its idle figure is
 * taken at SETTLE_MS); then 1,000 distinct modules (hello with a custom section, a
 * new hash each) from 16 clients, and after; then `plasmd scale 3` and the third executor's
 * PSS after 300 more jobs (its own at 5 s and SETTLE_MS, the target read at SETTLE_MS as every
 * other process's; and what the node's total grew by over its settled figure before). Floor:
 * the PSS of one idle bare `node -e 'setInterval(…)'` of the project's Node, alone, measured first in the same run; the
 * executor's, the same with the executors' flags and one idle worker thread, measured beside the
 * running node (so that both share the Node binary's pages with the same processes).
 *
 *   [PHASE_BENCH_CONFIG='{"module_cache":{"compiled_bytes":4194304}}'] node --no-liftoff bench/memory.ts [--quick]
 */
import { spawn } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { ROOT, NODE } from '../test/helpers/node-harness.ts'
import { nodeFolder, plasmdCli } from '../test/helpers/pm2-node.ts'
import { memoryOf, sampler, mib } from '../test/helpers/proc-memory.ts'
import { launchPlasmd } from './plasmd-launch.ts'
import { printTable, type Row } from './stats.ts'
import { EXECUTOR_NODE_ARGS } from '../ops/compile-cache.ts'
import { MALLOC_ENV } from '../ops/malloc.ts'
import { DEFAULT_MAX_MEMORY_BYTES, WORKER_HEAP_OVERHEAD_MB, WORKER_YOUNG_GENERATION_MB } from '../services/executor/src/pool.ts'

const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true }
const NAMES = ['pm2', 'signer', 'discovery', 'executor 0', 'executor 1', 'executor 2']

/** hello with a custom section holding `i`: the same code under a new hash. */
function distinct (hello: Uint8Array, i: number): Uint8Array {
  const name = new TextEncoder().encode('n')
  const payload = new TextEncoder().encode(`${i}:${randomBytes(8).toString('hex')}`)
  const body = [name.length, ...name, ...payload]
  return new Uint8Array([...hello, 0, body.length, ...body])
}
/**
 * When "after" is read a second time: a process collects once it goes quiet (idle-gc.ts, 2 s
 * windows) and V8 and malloc give pages back later still; the first reading (5 s) shows what is
 * left soon, this one what stays.
 */
const SETTLE_MS = 30_000
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** The floor: PSS of one idle bare Node process of the project's Node, alone (before the node starts). */
async function bareNodePss (): Promise<number> {
  const child = spawn(NODE, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  try {
    await sleep(1500)
    return memoryOf(child.pid!)?.pss ?? NaN
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
}

/**
 * The executor's floor: one idle bare Node process of the project's Node with the executors' flags
 * and malloc settings, holding one idle worker thread with the pool's heap limits (what an
 * executor is before its own code: gRPC, logger, the pool and the worker's WASI host).
 */
async function bareWorkerPss (): Promise<number> {
  const limits = { maxOldGenerationSizeMb: Math.ceil(DEFAULT_MAX_MEMORY_BYTES / 2 ** 20) + WORKER_HEAP_OVERHEAD_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }
  const code = `const { Worker } = require('node:worker_threads'); new Worker("require('node:worker_threads').parentPort.on('message', () => {})", { eval: true, resourceLimits: ${JSON.stringify(limits)} }); setInterval(() => {}, 1000)`
  const child = spawn(NODE, [...EXECUTOR_NODE_ARGS, '-e', code], { stdio: 'ignore', env: { ...process.env, ...MALLOC_ENV } })
  try {
    await sleep(2500)
    return memoryOf(child.pid!)?.pss ?? NaN
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
}

export async function memoryRows (quick: boolean): Promise<Row[]> {
  const bare = await bareNodePss()
  const jobs = quick ? 500 : 2000
  const clients = 16
  const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
  const helloHash = contentHash(hello)
  const manifestJson = (): Uint8Array => new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: helloHash, nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
  // PHASE_BENCH_CONFIG (JSON) merged into the node config, as bench/warm-latency.ts (e.g. module_cache).
  const extra = process.env.PHASE_BENCH_CONFIG === undefined ? {} : JSON.parse(process.env.PHASE_BENCH_CONFIG) as Record<string, unknown>
  const folder = await nodeFolder({ api: { http: { host: '127.0.0.1', port: 0 } }, executors: 2, p2p: P2P, ...extra })
  const { dir } = folder
  const env = folder.env
  // First start: new state, empty compile cache; measured idle after one job, then stopped.
  let first = NaN
  {
    const node = launchPlasmd(env)
    try {
      const { grpc } = await node.discovery
      await node.executors(2)
      const c = createGrpcClient(NodeService, grpc, { maxMessageBytes: 256 << 20 })
      try { await c.submitJob({ manifestJson: manifestJson(), module: hello }) } finally { c.close() }
      await sleep(3000)
      first = [...node.byName.values()].reduce((a, pid) => a + (memoryOf(pid)?.pss ?? NaN), 0)
    } finally {
      await node.stop()
    }
  }
  const node = launchPlasmd(env)
  try {
    const { grpc } = await node.discovery
    await node.executors(2)
    const conns = Array.from({ length: clients }, () => createGrpcClient(NodeService, grpc, { maxMessageBytes: 256 << 20 }))
    try {
      await conns[0]!.submitJob({ manifestJson: manifestJson(), module: hello })
      const pids = (): Array<[string, number]> => NAMES.flatMap((n) => node.byName.has(n) ? [[n, node.byName.get(n)!] as [string, number]] : [])
      const snapshot = (): Map<string, number> => new Map(pids().map(([n, pid]) => [n, memoryOf(pid)?.pss ?? NaN]))
      // Anonymous PSS only: without the file pages (the Node binary's code) a process touches
      // the first time it runs a path, e.g. the optimizing compiler's code for wasm.
      const anonIdle = new Map(pids().map(([n, pid]) => [n, memoryOf(pid)?.pssAnon ?? NaN]))
      const anonSnapshot = (): Map<string, number> => new Map(pids().map(([n, pid]) => [n, memoryOf(pid)?.pssAnon ?? NaN]))
      await sleep(3000)
      const idle = snapshot()

      const watch = sampler(() => pids().map(([, pid]) => pid), 50)
      let sent = 0
      const t0 = performance.now()
      await Promise.all(conns.map(async (c) => { while (sent++ < jobs) await c.submitJob({ manifestJson: manifestJson() }) }))
      const rate = jobs / ((performance.now() - t0) / 1000)
      watch.stop()
      const peak = new Map(pids().map(([n, pid]) => [n, watch.peak.get(pid)?.pss ?? NaN]))
      await sleep(5000)
      const after = snapshot()
      await sleep(SETTLE_MS - 5000)
      const afterSettled = snapshot()

      // 1,000 distinct modules: each a new hash, sent with its bytes (module store, executors' caches).
      const modules = quick ? 300 : 1000
      const watchModules = sampler(() => pids().map(([, pid]) => pid), 50)
      let m = 0
      await Promise.all(conns.map(async (c) => {
        while (m < modules) {
          const module = distinct(hello, m++)
          const manifest = new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
          await c.submitJob({ manifestJson: manifest, module })
        }
      }))
      watchModules.stop()
      const peakModules = new Map(pids().map(([n, pid]) => [n, watchModules.peak.get(pid)?.pss ?? NaN]))
      await sleep(5000)
      const afterModules = snapshot()
      await sleep(SETTLE_MS - 5000)
      const afterModulesSettled = snapshot()
      const anonAfterModules = anonSnapshot()

      const scaled = await plasmdCli(['scale', '3'], env)
      if (scaled.code !== 0) throw new Error(`plasmd scale 3: exit ${scaled.code}\n${scaled.stdout}${scaled.stderr}`)
      await node.executors(3)
      // The new executor serves jobs before it is measured: its compiled module and worker count.
      sent = 0
      await Promise.all(conns.map(async (c) => { while (sent++ < 300) await c.submitJob({ manifestJson: manifestJson() }) }))
      await sleep(5000)
      const threeSoon = snapshot()
      // As every other process's figure: read again once it has gone quiet and collected.
      await sleep(SETTLE_MS - 5000)
      const three = snapshot()
      // Measured beside the running node, as the executor is: both share the Node binary's pages
      // with the same processes (alone, the floor is charged all of them: 20-40 MiB seen).
      const bareWorker = await bareWorkerPss()

      const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0)
      const worst = (m: Map<string, number>, base = idle): number => Math.max(...NAMES.slice(0, 5).map((n) => m.get(n)! / base.get(n)!))
      const worstName = (m: Map<string, number>, base: Map<string, number>): string => NAMES.slice(0, 5).reduce((a, n) => m.get(n)! / base.get(n)! > m.get(a)! / base.get(a)! ? n : a)
      const rows: Row[] = NAMES.slice(0, 5).map((n) => ({
        metric: `  PSS ${n} (idle / load peak / after 5 s, ${SETTLE_MS / 1000} s / ${modules} modules peak / after 5 s, ${SETTLE_MS / 1000} s)`,
        value: `${mib(idle.get(n)!)} / ${mib(peak.get(n)!)} / ${mib(after.get(n)!)}, ${mib(afterSettled.get(n)!)} / ${mib(peakModules.get(n)!)} / ${mib(afterModules.get(n)!)}, ${mib(afterModulesSettled.get(n)!)} MiB`,
        floor: '',
        ratio: `${(afterSettled.get(n)! / idle.get(n)!).toFixed(2)}× / ${(afterModulesSettled.get(n)! / idle.get(n)!).toFixed(2)}×`,
        target: '≤ 1.2× / ≤ 1.2×'
      }))
      const extra = three.get('executor 2')!
      const grew = total(three) - total(afterModulesSettled)
      return [
        { metric: 'memory idle, PSS all processes (pm2, signer, discovery, 2 executors; p2p on loopback)', value: `${mib(total(idle))} MiB`, floor: `5 × bare node ${mib(5 * bare)} MiB`, ratio: `${(total(idle) / (5 * bare)).toFixed(1)}×`, target: '≤ 300 MiB' },
        { metric: 'memory idle at the first start (new state, empty compile cache), PSS all processes', value: `${mib(first)} MiB`, floor: `5 × bare node ${mib(5 * bare)} MiB`, ratio: `${(first / (5 * bare)).toFixed(1)}×`, target: '' },
        { metric: `memory peak under load (${jobs} jobs, ${clients} clients, ${rate.toFixed(0)} jobs/s), sum of per-process peaks`, value: `${mib(total(peak))} MiB`, floor: '', ratio: '', target: '' },
        { metric: 'memory after load (5 s), PSS all processes; worst process after / idle', value: `${mib(total(after))} MiB`, floor: '', ratio: `${worst(after).toFixed(2)}×`, target: '' },
        { metric: `memory after load (${SETTLE_MS / 1000} s), PSS all processes; worst process after / idle`, value: `${mib(total(afterSettled))} MiB`, floor: '', ratio: `${worst(afterSettled).toFixed(2)}×`, target: '≤ 1.2×' },
        { metric: `memory after ${modules} distinct modules (5 s), PSS all processes; worst process after / idle`, value: `${mib(total(afterModules))} MiB`, floor: '', ratio: `${worst(afterModules).toFixed(2)}×`, target: '' },
        { metric: `memory after ${modules} distinct modules (${SETTLE_MS / 1000} s), PSS all processes; worst process after / idle`, value: `${mib(total(afterModulesSettled))} MiB`, floor: '', ratio: `${worst(afterModulesSettled).toFixed(2)}×`, target: '≤ 1.2×' },
        { metric: `  of which anonymous PSS (heaps, JIT code; no file pages); worst process after / idle (${worstName(anonAfterModules, anonIdle)}: ${mib(anonIdle.get(worstName(anonAfterModules, anonIdle))!)} → ${mib(anonAfterModules.get(worstName(anonAfterModules, anonIdle))!)} MiB)`, value: `${mib(total(anonAfterModules))} MiB`, floor: `idle ${mib(total(anonIdle))} MiB`, ratio: `${worst(anonAfterModules, anonIdle).toFixed(2)}×`, target: '' },
        ...rows,
        { metric: `third executor (plasmd scale 3, after 300 jobs): its PSS after 5 s, ${SETTLE_MS / 1000} s / node total grew by`, value: `${mib(threeSoon.get('executor 2')!)}, ${mib(extra)} / ${mib(grew)} MiB`, floor: `bare node + 1 worker ${mib(bareWorker)} MiB`, ratio: `${(extra / bareWorker).toFixed(1)}×`, target: '≤ 40 MiB' }
      ]
    } finally {
      for (const c of conns) c.close()
    }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${node.lines.slice(-20).join('\n')}`)
  } finally {
    await node.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await memoryRows(process.argv.includes('--quick')))
}
