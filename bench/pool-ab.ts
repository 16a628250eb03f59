/**
 * A/B of the executor pool of two checkouts in one process, so both see the same machine noise:
 * `node --no-liftoff bench/pool-ab.ts <root A> <root B> [rounds]` (e.g. a `git archive` of main
 * in /tmp and this tree). Alternating blocks of warm hello jobs straight on each runtime (no
 * gRPC): the main thread's CPU per job (the pool's own cost, least sensitive to a busy machine),
 * sequential latency, and throughput at 16 in flight.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { WasmJob, WasmRuntime } from '../services/executor/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { median, percentile } from './stats.ts'

const [a, b, roundsArg] = process.argv.slice(2)
if (a === undefined || b === undefined) throw new Error('usage: bench/pool-ab.ts <root A> <root B> [rounds]')
const rounds = Number(roundsArg ?? 20)
const BLOCK = 250
const THROUGHPUT_MS = 200
const IN_FLIGHT = 16
const hello = new Uint8Array(await readFile(join(a, 'examples/hello/hello.wasm')))
const job = (withModule: boolean): WasmJob => ({
  jobId: 'sha256:' + '0'.repeat(64),
  moduleHash: contentHash(hello),
  ...(withModule ? { module: hello } : {}),
  args: ['Hello, World'],
  env: {},
  stdin: new Uint8Array(),
  limits: { memoryBytes: 16 << 20, timeoutMs: 5000, outputBytes: 1 << 20 }
})

interface Side { root: string, runtime: WasmRuntime, latency: number[], throughput: number[], cpuUs: number, jobs: number }
const sides: Side[] = []
for (const root of [a, b]) {
  const { createV8Runtime } = await import(join(root, 'services/executor/src/index.ts')) as { createV8Runtime: (init: { workers: number }) => WasmRuntime }
  const runtime = createV8Runtime({ workers: 2 })
  await runtime.start()
  await runtime.run(job(true))
  sides.push({ root, runtime, latency: [], throughput: [], cpuUs: 0, jobs: 0 })
}
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
    const cpu0 = process.threadCpuUsage()
    for (let i = 0; i < BLOCK; i++) {
      const t0 = performance.now()
      await side.runtime.run(job(false))
      side.latency.push(performance.now() - t0)
    }
    const cpu = process.threadCpuUsage(cpu0)
    side.cpuUs += cpu.user + cpu.system
    side.jobs += BLOCK
    let done = 0
    const t0 = performance.now()
    const end = t0 + THROUGHPUT_MS
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) { await side.runtime.run(job(false)); done++ }
    }))
    side.throughput.push(done / ((performance.now() - t0) / 1000))
  }
}
for (const s of sides) {
  process.stdout.write(`${s.root}: main-thread CPU ${(s.cpuUs / s.jobs).toFixed(1)} µs/job  sequential p50 ${(median(s.latency) * 1000).toFixed(0)} µs  p90 ${(percentile(s.latency, 90) * 1000).toFixed(0)} µs  throughput ${median(s.throughput).toFixed(0)} jobs/s (${IN_FLIGHT} in flight)\n`)
}
for (const s of sides) await s.runtime.stop()
