/**
 * The two runtimes side by side, in the same run: a node with `executor_runtime: v8` and one with
 * `wasmer`, each measured on the same jobs — warm job (hello, hash only), cold first job (a new
 * module every time) and the compute kernels against `gcc -O2` — beside the same floors. wasmer
 * also gets its own floor: the bare `@wasmer/sdk` run of hello in one process (fresh sandbox per
 * run, as the runner does), so what the runner processes add shows apart from what the SDK costs.
 * Standalone: `node --no-liftoff bench/runtimes.ts [--quick]` (measures its floors itself).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { bareColdRun, bareGrpcRoundTrips, bareInstantiateRun } from './floors.ts'
import { median, percentile, timeSeq, printTable, fmtMs, type Row } from './stats.ts'

export interface RuntimeFloors {
  /** One bare grpc-js round trip (ms). */
  grpc: number
  /** One bare instantiate + run of hello from a compiled module (ms). */
  wasm: number
  /** One bare compile + instantiate + run of a new module (ms). */
  cold: number
}

const KINDS = ['v8', 'wasmer'] as const
const KERNELS = join(ROOT, 'bench', 'kernels')
const enc = new TextEncoder()
const dec = new TextDecoder()

export async function runtimeRows (quick: boolean, floors: RuntimeFloors): Promise<Row[]> {
  const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
  const manifest = (module: Uint8Array, extra: Record<string, unknown> = {}): Uint8Array =>
    enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), args: ['Hello, World'], ...extra }))
  const variant = (): Uint8Array => {
    const name = enc.encode('bench')
    const body = new Uint8Array([name.length, ...name, ...randomBytes(16)])
    return new Uint8Array([...hello, 0, body.length, ...body])
  }
  const warmN = quick ? 50 : 300
  const coldN = quick ? 5 : 20
  const sdkFloor = median(await bareWasmerRuns(hello, quick ? 20 : 100))
  const kernels = nativeKernels()
  const rows: Row[] = []
  const warm = new Map<string, number>()
  const cold = new Map<string, number>()
  const compute = new Map<string, Map<string, number>>()
  for (const kind of KINDS) {
    process.stderr.write(`runtime ${kind}…\n`)
    const node = await startTestNode({ executors: 1, config: { executor_runtime: kind, limits: { max_timeout_ms: 600_000, default_timeout_ms: 600_000 } } })
    const client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 })
    try {
      const first = await client.submitJob({ manifestJson: manifest(hello), module: hello })
      if (first.status !== 'ok') throw new Error(`${kind}: hello ended ${first.status}`)
      const times = await timeSeq(warmN, 20, async () => await client.submitJob({ manifestJson: manifest(hello) }))
      warm.set(kind, median(times))
      warm.set(`${kind}-p99`, percentile(times, 99))
      const colds: number[] = []
      for (let i = 0; i < coldN; i++) {
        const v = variant()
        const t = performance.now()
        await client.submitJob({ manifestJson: manifest(v), module: v })
        colds.push(performance.now() - t)
      }
      cold.set(kind, median(colds))
      const perKernel = new Map<string, number>()
      for (const k of kernels) {
        const wasm = readFileSync(join(KERNELS, `${k.name}.wasm`))
        const walls: number[] = []
        for (let i = 0; i < (quick ? 2 : 4); i++) {
          const res = await client.submitJob({ manifestJson: manifest(wasm, { args: [], limits: { timeout_ms: 600_000 } }), module: i === 0 ? wasm : undefined })
          const receipt = JSON.parse(dec.decode(res.receiptJson)) as { wall_time_us: number, status: string }
          if (receipt.status !== 'ok' || dec.decode(res.stdout).trim() !== k.output) throw new Error(`${kind} ${k.name}: ${receipt.status}, printed ${dec.decode(res.stdout).trim()}, native ${k.output}`)
          if (i > 0) walls.push(receipt.wall_time_us / 1000) // the first run pays its compile
        }
        perKernel.set(k.name, median(walls))
      }
      compute.set(kind, perKernel)
    } finally {
      client.close()
      await node.stop()
    }
  }
  const floor = floors.grpc + floors.wasm
  for (const kind of KINDS) {
    const w = warm.get(kind)!
    rows.push({ metric: `runtime ${kind}: warm job p50 (gRPC API, signed, hash only)`, value: fmtMs(w), floor: fmtMs(floor), ratio: `${(w / floor).toFixed(1)}×`, target: kind === 'v8' ? '≤ 1 ms' : '' })
    rows.push({ metric: `runtime ${kind}: warm job p99`, value: fmtMs(warm.get(`${kind}-p99`)!), floor: '', ratio: '', target: '' })
  }
  rows.push({ metric: '  wasmer warm job vs the bare SDK run (one process, fresh sandbox)', value: fmtMs(warm.get('wasmer')!), floor: fmtMs(sdkFloor), ratio: `${(warm.get('wasmer')! / sdkFloor).toFixed(2)}×`, target: '' })
  for (const kind of KINDS) {
    const c = cold.get(kind)!
    rows.push({ metric: `runtime ${kind}: cold first job (new module)`, value: fmtMs(c), floor: fmtMs(floors.cold + floors.grpc), ratio: `${(c / (floors.cold + floors.grpc)).toFixed(1)}×`, target: '' })
  }
  for (const k of kernels) {
    for (const kind of KINDS) {
      const t = compute.get(kind)!.get(k.name)!
      rows.push({ metric: `runtime ${kind}: compute kernel ${k.name} vs gcc -O2`, value: fmtMs(t), floor: fmtMs(k.ms), ratio: `${(t / k.ms).toFixed(2)}×`, target: kind === 'v8' ? '≤ 1.25×' : '' })
    }
  }
  return rows
}

/** Each kernel built with gcc -O2 and run natively: its median time and its output. */
function nativeKernels (): Array<{ name: string, ms: number, output: string }> {
  if (!existsSync(KERNELS)) return []
  const tmp = mkdtempSync(join(tmpdir(), 'phase-rt-kernel-'))
  try {
    return readdirSync(KERNELS).filter((f) => f.endsWith('.c') && existsSync(join(KERNELS, f.replace(/\.c$/, '.wasm')))).map((f) => {
      const name = f.slice(0, -2)
      const exe = join(tmp, name)
      execFileSync('gcc', ['-O2', '-o', exe, join(KERNELS, f)])
      const times: number[] = []
      let output = ''
      for (let i = 0; i < 3; i++) {
        const t = performance.now()
        output = spawnSync(exe, [], { encoding: 'utf8' }).stdout.trim()
        times.push(performance.now() - t)
      }
      return { name, ms: median(times), output }
    })
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** The SDK alone: hello run `n` times in this process, a fresh sandbox each (ms per run). */
async function bareWasmerRuns (module: Uint8Array, n: number): Promise<number[]> {
  const { Wasmer } = await import('@wasmer/sdk/node')
  const wasmer = new Wasmer({ cache: false, parallelism: 1 })
  await wasmer.ready()
  const pkg = await wasmer.packages.load(module)
  const once = async (): Promise<void> => {
    const sandbox = await wasmer.sandboxes.create({ packages: [pkg], network: { mode: 'disabled' } })
    await sandbox.command(pkg, ['Hello, World']).run({ check: true })
    await sandbox.close()
  }
  for (let i = 0; i < 5; i++) await once()
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await once()
    times.push(performance.now() - t)
  }
  await wasmer.close()
  return times
}

if (import.meta.main) {
  const quick = process.argv.includes('--quick')
  const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
  const n = quick ? 300 : 1000
  const floors = {
    grpc: median(await bareGrpcRoundTrips(n)),
    wasm: median(await bareInstantiateRun(hello, ['Hello, World'], n)),
    cold: median(await bareColdRun(Array.from({ length: 30 }, (_, i) => new Uint8Array([...hello, 0, 7, 5, ...enc.encode('bench'), i])), ['Hello, World']))
  }
  const rows = await runtimeRows(quick, floors)
  process.stdout.write(`\nPhase bench — runtimes side by side, node ${process.version}\n\n`)
  printTable(rows)
  // The SDK's workers keep the event loop alive after close.
  process.exit(0)
}
