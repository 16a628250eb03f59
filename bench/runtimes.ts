/**
 * The two runtimes side by side, in the same run: a node with `executor_runtime: v8` and one with
 * `wasmer`, both up at once and measured in alternation on the same jobs — warm job (hello, hash
 * only), cold first job (a new module every time) and the compute kernels, each run beside the
 * same kernel built with `gcc -O2` — so a shift in the machine's load falls on both alike. wasmer
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
import { createGrpcClient, type GrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT, type TestNode } from '../test/helpers/node-harness.ts'
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
type Kind = typeof KINDS[number]
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
  const rounds = quick ? 3 : 10
  const batch = quick ? 20 : 40
  const sdkFloor = median(await bareWasmerRuns(hello, quick ? 20 : 100))
  const kernels = buildKernels()
  // Both nodes run at once and every measure alternates between them (and with the native
  // kernel), so a shift in the machine's load falls on both alike.
  const nodes = new Map<Kind, { node: TestNode, client: GrpcClient<typeof NodeService> }>()
  const warm = new Map<Kind, number[]>(KINDS.map((k) => [k, []]))
  const cold = new Map<Kind, number[]>(KINDS.map((k) => [k, []]))
  const compute = new Map<string, number[]>()
  try {
    for (const kind of KINDS) {
      const node = await startTestNode({ executors: 1, config: { executor_runtime: kind, limits: { max_timeout_ms: 600_000, default_timeout_ms: 600_000 } } })
      nodes.set(kind, { node, client: createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 }) })
    }
    for (const kind of KINDS) {
      const { client } = nodes.get(kind)!
      const first = await client.submitJob({ manifestJson: manifest(hello), module: hello })
      if (first.status !== 'ok') throw new Error(`${kind}: hello ended ${first.status}`)
      for (const k of kernels) await client.submitJob({ manifestJson: manifest(k.wasm, { args: [], limits: { timeout_ms: 600_000 } }), module: k.wasm })
    }
    process.stderr.write('runtimes: warm and cold jobs…\n')
    for (let r = 0; r < rounds; r++) {
      for (const kind of KINDS) {
        const { client } = nodes.get(kind)!
        warm.get(kind)!.push(...await timeSeq(batch, 5, async () => await client.submitJob({ manifestJson: manifest(hello) })))
        const v = variant()
        const t = performance.now()
        await client.submitJob({ manifestJson: manifest(v), module: v })
        cold.get(kind)!.push(performance.now() - t)
      }
    }
    process.stderr.write('runtimes: compute kernels…\n')
    for (const k of kernels) {
      for (let i = 0; i < (quick ? 1 : 3); i++) {
        const t = performance.now()
        // /usr/bin/time reports the native run's CPU time (user + system) on stderr.
        const native = spawnSync('/usr/bin/time', ['-f', '%U %S', k.exe], { encoding: 'utf8' })
        push(compute, `native ${k.name}`, performance.now() - t)
        const [user, sys] = native.stderr.trim().split('\n').pop()!.split(' ').map(Number)
        push(compute, `native cpu ${k.name}`, (user! + sys!) * 1000)
        const out = native.stdout.trim()
        for (const kind of KINDS) {
          const res = await nodes.get(kind)!.client.submitJob({ manifestJson: manifest(k.wasm, { args: [], limits: { timeout_ms: 600_000 } }) })
          const receipt = JSON.parse(dec.decode(res.receiptJson)) as { wall_time_us: number, cpu_time_us: number, status: string }
          if (receipt.status !== 'ok' || dec.decode(res.stdout).trim() !== out) throw new Error(`${kind} ${k.name}: ${receipt.status}, printed ${dec.decode(res.stdout).trim()}, native ${out}`)
          push(compute, `${kind} ${k.name}`, receipt.wall_time_us / 1000)
          push(compute, `${kind} cpu ${k.name}`, receipt.cpu_time_us / 1000)
        }
      }
    }
  } finally {
    for (const { node, client } of nodes.values()) { client.close(); await node.stop() }
    for (const k of kernels) rmSync(k.dir, { recursive: true, force: true })
  }
  const rows: Row[] = []
  const floor = floors.grpc + floors.wasm
  for (const kind of KINDS) {
    const w = median(warm.get(kind)!)
    rows.push({ metric: `runtime ${kind}: warm job p50 (gRPC API, signed, hash only)`, value: fmtMs(w), floor: fmtMs(floor), ratio: `${(w / floor).toFixed(1)}×`, target: kind === 'v8' ? '≤ 1 ms' : '' })
    rows.push({ metric: `runtime ${kind}: warm job p99`, value: fmtMs(percentile(warm.get(kind)!, 99)), floor: '', ratio: '', target: '' })
  }
  const wasmerWarm = median(warm.get('wasmer')!)
  rows.push({ metric: '  wasmer warm job vs the bare SDK run (one process, fresh sandbox)', value: fmtMs(wasmerWarm), floor: fmtMs(sdkFloor), ratio: `${(wasmerWarm / sdkFloor).toFixed(2)}×`, target: '' })
  for (const kind of KINDS) {
    const c = median(cold.get(kind)!)
    rows.push({ metric: `runtime ${kind}: cold first job (new module)`, value: fmtMs(c), floor: fmtMs(floors.cold + floors.grpc), ratio: `${(c / (floors.cold + floors.grpc)).toFixed(1)}×`, target: '' })
  }
  for (const k of kernels) {
    const native = median(compute.get(`native ${k.name}`)!)
    for (const kind of KINDS) {
      const t = median(compute.get(`${kind} ${k.name}`)!)
      rows.push({ metric: `runtime ${kind}: compute kernel ${k.name} vs gcc -O2`, value: fmtMs(t), floor: fmtMs(native), ratio: `${(t / native).toFixed(2)}×`, target: kind === 'v8' ? '≤ 1.25×' : '' })
    }
    // CPU time: what a loaded machine moves least (wasmer's counts every thread of its runner).
    const nativeCpu = median(compute.get(`native cpu ${k.name}`)!)
    for (const kind of KINDS) {
      const c = median(compute.get(`${kind} cpu ${k.name}`)!)
      rows.push({ metric: `  ${kind}: ${k.name}, CPU time vs gcc -O2's`, value: fmtMs(c), floor: fmtMs(nativeCpu), ratio: `${(c / nativeCpu).toFixed(2)}×`, target: '' })
    }
  }
  return rows
}

function push (map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key) ?? []
  list.push(value)
  map.set(key, list)
}

/** Each kernel built with gcc -O2 (in its own temporary folder) beside its committed .wasm. */
function buildKernels (): Array<{ name: string, exe: string, dir: string, wasm: Uint8Array }> {
  if (!existsSync(KERNELS)) return []
  return readdirSync(KERNELS).filter((f) => f.endsWith('.c') && existsSync(join(KERNELS, f.replace(/\.c$/, '.wasm')))).map((f) => {
    const name = f.slice(0, -2)
    const dir = mkdtempSync(join(tmpdir(), 'phase-rt-kernel-'))
    const exe = join(dir, name)
    execFileSync('gcc', ['-O2', '-o', exe, join(KERNELS, f)])
    return { name, exe, dir, wasm: new Uint8Array(readFileSync(join(KERNELS, `${name}.wasm`))) }
  })
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
