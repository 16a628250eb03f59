/**
 * Issue 11: the executors' compiled-module cache is bounded by the memory its modules hold (V8's
 * machine code and module metadata live outside the JS heap, ~60 KiB for an 812-byte module), and
 * an executor that ran many distinct modules comes back near its idle memory.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { ModuleCache, compiledCost, COMPILED_BASE_BYTES } from '../../services/executor/src/pool/module-cache.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { MALLOC_ENV } from '../../ops/malloc.ts'
import { V8_FLAGS } from '../../ops/compile-cache.ts'
import { distinctModule } from '../../bench/compiled-module-cost.ts'
import { figure } from '../helpers/figures.ts'
import { compileWat } from '../helpers/wat.ts'
import { startTestNode, ROOT, NODE, type TestNode } from '../helpers/node-harness.ts'

const MiB = 1024 * 1024
const HELLO = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))

/** Anonymous PSS of a process in MiB: its own memory, not the shared Node binary whose share moves with other processes. */
function anonPss (pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  return Number(/^Pss_Anon:\s+(\d+) kB/m.exec(text)?.[1]) / 1024
}

describe('ModuleCache', () => {
  it('counts each compiled module at its estimated memory and holds at most its byte bound when 200 distinct modules pass', async () => {
    setFlagsFromString('--no-liftoff')
    setFlagsFromString('--no-wasm-lazy-compilation')
    const bound = MiB
    const cache = new ModuleCache({ maxModuleBytes: MiB, moduleCacheSize: 1024, moduleCacheBytes: bound })
    const memoryBytes = 16 * MiB
    for (let i = 0; i < 200; i++) {
      const module = distinctModule(HELLO, i)
      const c = await cache.compiled({ jobId: `j${i}`, moduleHash: contentHash(module), module, args: [], env: {}, stdin: new Uint8Array(), limits: { memoryBytes, timeoutMs: 1000, outputBytes: 1024 } }, memoryBytes, 'plain')
      // Counted at the estimate, far above the rewritten module's ~1.8 KB.
      expect(c.bytes).toBeGreaterThanOrEqual(COMPILED_BASE_BYTES)
      expect(cache.heldBytes).toBeLessThanOrEqual(bound)
    }
    expect(cache.size).toBeLessThanOrEqual(Math.floor(bound / COMPILED_BASE_BYTES))
    expect(cache.size).toBeGreaterThan(0)
  })

  it('estimates what a compiled module holds when measured in a process of its own', () => {
    // The sha256 kernel (94 KB, with names) compiled 60 times as an executor does: PSS held per compile.
    const r = spawnSync(NODE, ['--expose-gc', ...V8_FLAGS.filter((f) => f !== '--expose-gc'), join(ROOT, 'bench/compiled-module-cost.ts'), join(ROOT, 'bench/kernels/sha256.wasm'), '60', '--json'], { env: { ...process.env, ...MALLOC_ENV }, encoding: 'utf8', timeout: 120_000 })
    expect(r.status).toBe(0)
    const figures = JSON.parse(r.stdout) as { heldPerModule: number, estimatePerModule: number }
    // The estimate is within reach of what is held (the measure is noisy: 480-920 KiB seen), and
    // far from the module's own bytes (what the bound counted before: ~112 KB rewritten).
    expect(figures.heldPerModule).toBeLessThanOrEqual(1.5 * figures.estimatePerModule)
    expect(figures.estimatePerModule).toBeLessThanOrEqual(3 * figures.heldPerModule)
  })
})

/** `[name, pick(app)]` of each app pm2 reads from ops/ecosystem.config.cjs, for a fresh config; `pick` is JS source. */
function ecosystemApps (pick: string): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'phase-eco-'))
  try {
    const config = join(dir, 'plasmd.json')
    writeFileSync(config, JSON.stringify({ state_dir: join(dir, 'state'), runtime_dir: join(dir, 'run') }), { mode: 0o600 })
    const r = spawnSync(NODE, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(join(ROOT, 'ops/ecosystem.config.cjs'))}).apps.map((a) => [a.name, ${pick}])))`], { env: { PATH: process.env.PATH ?? '', HOME: dir, PHASE_CONFIG: config }, encoding: 'utf8', timeout: 60_000 })
    expect(r.stderr).toBe('')
    return JSON.parse(r.stdout)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('ops/ecosystem.config.cjs', () => {
  it('gives every process the malloc settings when pm2 reads it', () => {
    expect(ecosystemApps('a.env.MALLOC_ARENA_MAX')).toEqual([['signer', MALLOC_ENV.MALLOC_ARENA_MAX], ['executor', MALLOC_ENV.MALLOC_ARENA_MAX], ['discovery', MALLOC_ENV.MALLOC_ARENA_MAX]])
  })

  it('runs the executors in V8\'s memory saver mode when pm2 reads it', () => {
    // Only the executors: a GC heuristic for their gRPC path (ops/compile-cache.ts EXECUTOR_NODE_ARGS).
    expect(ecosystemApps("a.node_args.includes('--memory-saver-mode')")).toEqual([['signer', false], ['executor', true], ['discovery', false]])
  })
})

describe('executor memory after many distinct modules', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  beforeAll(async () => {
    // The harness runs an executor as pm2 does: its malloc settings and V8 flags (idle GC needs --expose-gc).
    node = await startTestNode({ executors: 1 })
    client = createGrpcClient(NodeService, node.grpc)
  }, 120_000)
  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  const submit = async (module: Uint8Array): Promise<void> => {
    const manifest = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), args: ['hi'] }
    const res = await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(manifest)), module })
    expect(res.exitCode).toBe(0n)
  }
  /** Waits until the executor has gone quiet and collected (idle-gc: 2 s windows). */
  const quiet = async (): Promise<void> => await new Promise((resolve) => setTimeout(resolve, 8000))
  /**
   * The executor's settled anonymous PSS: the least of eight samples 1 s apart. The idle trim
   * (idle-gc.ts) comes windows after the collection, later when the threads' own collections
   * keep a window from being quiet: measured 8, 10 and 12 s after the last job (55 → 49-52 MiB).
   */
  const settled = async (pid: number): Promise<number> => {
    const samples: number[] = []
    for (let i = 0; i < 8; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1000))
      samples.push(anonPss(pid))
    }
    return Math.min(...samples)
  }

  it('stays within a bound of its idle memory when 400 distinct modules ran on it', async () => {
    const pid = node.procs.get('executor-0')!.child.pid!
    await submit(HELLO)
    // Idle memory is measured after the executor's idle collection (idle-gc.ts), as the figure
    // after the modules is: that collection follows only a window with work in it, and one hello
    // job may not make one (the idle figure then still held the start's garbage: 46-65 MiB from
    // run to run, and a CI run measured +11.3 MiB against the low end). A job counting to 10^9 does
    // (a few hundred ms of CPU), and ends by itself: one stopped at its deadline replaces its worker.
    const count = await compileWat(`(module (memory (export "memory") 1) (func (export "_start") (local $i i32)
      (loop $l (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000000000))))))`)
    const counted = await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(count), nonce: randomBytes(16).toString('hex'), limits: { timeout_ms: 20_000 } })), module: count })
    expect([counted.status, counted.exitCode]).toEqual(['ok', 0n])
    await quiet()
    const idle = await settled(pid)
    for (let i = 0; i < 400; i++) await submit(distinctModule(HELLO, i))
    await quiet()
    const after = await settled(pid)
    figure('memory', 'executor anonymous PSS growth after 400 distinct modules (idle → after)', `${idle.toFixed(1)} → ${after.toFixed(1)}`, 'MiB')
    // The cache holds ≤ 6 MiB (estimated; ~4.5 MiB of hello compiles in fact), plus what malloc
    // keeps of the compiles' transient memory. Measured +7.7 to +12.2 MiB between the settled
    // figures (4 runs, 2 beside two busy loops); before the byte bound and the arenas, +18-21 MiB
    // from an idle read before its collection (which read 5-20 MiB high: the 11 MiB bound this
    // had held only against such an idle).
    expect(after - idle).toBeLessThanOrEqual(14)
  }, 600_000)
})
