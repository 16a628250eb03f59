/**
 * What a compiled module holds (issue 11: the executors' compiled-module cache is bounded by it):
 * PSS of this process before and while it holds `n` distinct compiles of one module (the module
 * with a custom section holding a counter: a new hash, the same code), compiled as an executor
 * does (module-cache.ts: admitted, rewritten, TurboFan only, eager), against the cache's estimate
 * (`compiledCost`). Then the modules are dropped and collected: V8 frees their code at once; what
 * malloc keeps depends on its arenas (ops/malloc.ts). Run it as an executor runs:
 *
 *   MALLOC_ARENA_MAX=2 node --expose-gc --max-semi-space-size=1 bench/compiled-module-cost.ts [module.wasm] [n] [--json]
 */
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { ModuleCache } from '../services/executor/src/pool/module-cache.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'

const MiB = 1024 * 1024

/** `wasm` with a custom section "n" holding `i`: the same code under a new hash. */
export function distinctModule (wasm: Uint8Array, i: number): Uint8Array {
  const payload = new TextEncoder().encode(`n${i}`)
  const body = [1, 'n'.charCodeAt(0), ...payload]
  const out = new Uint8Array(wasm.byteLength + 2 + body.length)
  out.set(wasm)
  out.set([0, body.length, ...body], wasm.byteLength)
  return out
}

/** PSS of this process in bytes, after full collections (needs --expose-gc). */
function pss (): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  gc(); gc()
  const text = readFileSync(`/proc/${process.pid}/smaps_rollup`, 'utf8')
  return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1]) * 1024
}

export interface CompiledCostFigures { module: string, n: number, heldPerModule: number, estimatePerModule: number, leftAfterDrop: number }

export async function compiledModuleCost (path: string, n: number): Promise<CompiledCostFigures> {
  setFlagsFromString('--no-liftoff')
  setFlagsFromString('--no-wasm-lazy-compilation')
  // Asynchronous compiles do not keep the event loop alive.
  const keep = setInterval(() => {}, 1000)
  try {
    const wasm = new Uint8Array(readFileSync(path))
    const cache = new ModuleCache({ maxModuleBytes: 64 * MiB, moduleCacheSize: n + 1, moduleCacheBytes: Number.MAX_SAFE_INTEGER })
    const memoryBytes = 64 * MiB
    const before = pss()
    let estimate = 0
    for (let i = 0; i < n; i++) {
      const module = distinctModule(wasm, i)
      const c = await cache.compiled({ jobId: `j${i}`, moduleHash: contentHash(module), module, args: [], env: {}, stdin: new Uint8Array(), limits: { memoryBytes, timeoutMs: 1000, outputBytes: 1024 } }, memoryBytes, 'metered')
      estimate += c.bytes
    }
    const held = pss()
    cache.clear()
    await new Promise((resolve) => setTimeout(resolve, 500))
    const dropped = pss()
    return { module: path, n, heldPerModule: (held - before) / n, estimatePerModule: estimate / n, leftAfterDrop: dropped - before }
  } finally {
    clearInterval(keep)
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const args = process.argv.slice(2).filter((a) => a !== '--json')
  const figures = await compiledModuleCost(args[0] ?? new URL('../examples/hello/hello.wasm', import.meta.url).pathname, Number(args[1] ?? 200))
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(figures) + '\n')
  else {
    const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`
    console.log(`${figures.module}: ${figures.n} compiles held ${kib(figures.heldPerModule)} each (PSS), estimated ${kib(figures.estimatePerModule)} (compiledCost); ${(figures.leftAfterDrop / MiB).toFixed(1)} MiB left after dropping them`)
  }
}
