/**
 * Compute kernels: the same C source built with `gcc -O2` (native, at bench time) and with
 * clang for wasm32-wasi (committed .wasm), run through a real node; wall times compared.
 * Each kernel prints a checksum, and the two outputs must agree. Each kernel also runs metered
 * (limits.fuel): unmetered and metered runs alternate in the same run, so the fuel overhead row
 * compares like with like; the fuel used must be the same on every metered run.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { median, fmtMs, type Row } from './stats.ts'

const DIR = join(ROOT, 'bench', 'kernels')
/** The fuel of a metered run: more than any kernel uses (the node's cap is raised to it). */
const FUEL = 1e15

export async function kernelRows (quick: boolean): Promise<Row[]> {
  if (!existsSync(DIR)) return []
  const names = readdirSync(DIR).filter((f) => f.endsWith('.c') && existsSync(join(DIR, f.replace(/\.c$/, '.wasm')))).map((f) => f.slice(0, -2))
  if (names.length === 0) return []
  const tmp = mkdtempSync(join(tmpdir(), 'phase-kernel-'))
  const node = await startTestNode({ executors: 1, config: { limits: { max_timeout_ms: 600_000, default_timeout_ms: 600_000, max_fuel: FUEL } } })
  const client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 << 20 })
  const rows: Row[] = []
  try {
    for (const name of names) {
      const exe = join(tmp, name)
      execFileSync('gcc', ['-O2', '-o', exe, join(DIR, `${name}.c`)])
      const wasm = readFileSync(join(DIR, `${name}.wasm`))
      const runs = quick ? 1 : 3
      const native: number[] = []
      let nativeOut = ''
      for (let i = 0; i < runs; i++) {
        const t = performance.now()
        const r = spawnSync(exe, [], { encoding: 'utf8' })
        native.push(performance.now() - t)
        nativeOut = r.stdout
      }
      const inWasm: number[] = []
      const metered: number[] = []
      // CPU time of the job's worker thread: the overhead row's measure (other load on the machine
      // moves wall times of multi-second runs by more than the 10% being measured).
      const cpu: number[] = []
      const meteredCpu: number[] = []
      const fuelUsed = new Set<number>()
      let wasmOut = ''
      for (let i = 0; i < runs + 1; i++) {
        for (const fuel of [undefined, FUEL]) {
          const manifest = { version: 1, module_hash: contentHash(wasm), nonce: randomBytes(16).toString('hex'), limits: { timeout_ms: 600_000, ...(fuel === undefined ? {} : { fuel }) } }
          const res = await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(manifest)), module: i === 0 ? wasm : undefined })
          const receipt = JSON.parse(new TextDecoder().decode(res.receiptJson)) as { wall_time_us: number, cpu_time_us: number, status: string, fuel_used?: number }
          const out = new TextDecoder().decode(res.stdout)
          if (receipt.status !== 'ok' || out.trim() !== nativeOut.trim()) throw new Error(`${name}${fuel === undefined ? '' : ' metered'}: ${receipt.status}, printed ${out.trim()}, native ${nativeOut.trim()}`)
          if (i === 0) continue // the first run of each variant pays its compile
          if (fuel === undefined) { inWasm.push(receipt.wall_time_us / 1000); cpu.push(receipt.cpu_time_us / 1000) } else { metered.push(receipt.wall_time_us / 1000); meteredCpu.push(receipt.cpu_time_us / 1000); fuelUsed.add(receipt.fuel_used ?? -1) }
          wasmOut = out
        }
      }
      if (wasmOut.trim() !== nativeOut.trim()) throw new Error(`${name}: wasm printed ${wasmOut.trim()}, native ${nativeOut.trim()}`)
      if (fuelUsed.size !== 1) throw new Error(`${name}: fuel used differs between runs: ${[...fuelUsed].join(', ')}`)
      const ratio = median(inWasm) / median(native)
      rows.push({ metric: `compute kernel ${name} (wasm in the node vs gcc -O2)`, value: fmtMs(median(inWasm)), floor: fmtMs(median(native)), ratio: `${ratio.toFixed(2)}×`, target: '≤ 1.25×' })
      rows.push({ metric: `  metered (fuel ${[...fuelUsed][0]!.toExponential(2)}) vs unmetered, CPU time`, value: fmtMs(median(meteredCpu)), floor: fmtMs(median(cpu)), ratio: `${(median(meteredCpu) / median(cpu)).toFixed(2)}×`, target: '≤ 1.10×' })
      rows.push({ metric: '  metered vs unmetered, wall time', value: fmtMs(median(metered)), floor: fmtMs(median(inWasm)), ratio: `${(median(metered) / median(inWasm)).toFixed(2)}×`, target: '' })
      rows.push({ metric: '  metered vs gcc -O2', value: fmtMs(median(metered)), floor: fmtMs(median(native)), ratio: `${(median(metered) / median(native)).toFixed(2)}×`, target: '≤ 1.35×' })
    }
  } finally {
    client.close()
    await node.stop()
    rmSync(tmp, { recursive: true, force: true })
  }
  return rows
}
