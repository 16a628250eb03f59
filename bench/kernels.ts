/**
 * Compute kernels: the same C source built with `gcc -O2` (native, at bench time) and with
 * clang for wasm32-wasi (committed .wasm), run through a real node; wall times compared.
 * Each kernel prints a checksum, and the two outputs must agree.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/src/grpc/index.ts'
import { contentHash } from '../services/core/src/hash-node.ts'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { median, fmtMs, type Row } from './stats.ts'

const DIR = join(ROOT, 'bench', 'kernels')

export async function kernelRows (quick: boolean): Promise<Row[]> {
  if (!existsSync(DIR)) return []
  const names = readdirSync(DIR).filter((f) => f.endsWith('.c') && existsSync(join(DIR, f.replace(/\.c$/, '.wasm')))).map((f) => f.slice(0, -2))
  if (names.length === 0) return []
  const tmp = mkdtempSync(join(tmpdir(), 'phase-kernel-'))
  const node = await startTestNode({ executors: 1, config: { limits: { max_timeout_ms: 600_000, default_timeout_ms: 600_000 } } })
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
      let wasmOut = ''
      for (let i = 0; i < runs + 1; i++) {
        const manifest = { version: 1, module_hash: contentHash(wasm), nonce: randomBytes(16).toString('hex'), limits: { timeout_ms: 600_000 } }
        const res = await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(manifest)), module: i === 0 ? wasm : undefined })
        const receipt = JSON.parse(new TextDecoder().decode(res.receiptJson)) as { wall_time_us: number }
        if (i > 0) inWasm.push(receipt.wall_time_us / 1000) // the first run pays the compile
        wasmOut = new TextDecoder().decode(res.stdout)
      }
      if (wasmOut.trim() !== nativeOut.trim()) throw new Error(`${name}: wasm printed ${wasmOut.trim()}, native ${nativeOut.trim()}`)
      const ratio = median(inWasm) / median(native)
      rows.push({ metric: `compute kernel ${name} (wasm in the node vs gcc -O2)`, value: fmtMs(median(inWasm)), floor: fmtMs(median(native)), ratio: `${ratio.toFixed(2)}×`, target: '≤ 1.25×' })
    }
  } finally {
    client.close()
    await node.stop()
    rmSync(tmp, { recursive: true, force: true })
  }
  return rows
}
