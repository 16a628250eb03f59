/**
 * An executor's pool (1 worker) in this process, without gRPC: PSS, anonymous and file-backed
 * PSS idle, after 300 jobs of one module, after N distinct modules (hello under new hashes) and
 * after a full collection, with the largest groups of mappings (issue 11: what an executor keeps
 * after many distinct modules, and which part of it the compiled-module cache's budget sets).
 * Run it as pm2 runs an executor (ops/malloc.ts, ops/compile-cache.ts):
 *
 *   MALLOC_ARENA_MAX=2 NODE_COMPILE_CACHE=/tmp/cc node --no-liftoff --max-semi-space-size=1 --expose-gc bench/executor-pool-memory.ts [N] [cache budget bytes]
 */
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { V8Runtime } from '../services/executor/src/pool/v8-runtime.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
const hello = new Uint8Array(readFileSync(new URL('../examples/hello/hello.wasm', import.meta.url)))
function distinct (i: number): Uint8Array {
  const name = new TextEncoder().encode('n')
  const payload = new TextEncoder().encode(`${i}:${randomBytes(8).toString('hex')}`)
  const body = [name.length, ...name, ...payload]
  return new Uint8Array([...hello, 0, body.length, ...body])
}
function mem (): string {
  const t = readFileSync(`/proc/${process.pid}/smaps_rollup`, 'utf8')
  const k = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? NaN) / 1024
  return `pss ${k('Pss').toFixed(1)} anon ${k('Pss_Anon').toFixed(1)} file ${k('Pss_File').toFixed(1)} private ${(k('Private_Clean') + k('Private_Dirty')).toFixed(1)}`
}
function groups (): string {
  const t = readFileSync(`/proc/${process.pid}/smaps`, 'utf8').split('\n')
  const g = new Map<string, number>()
  let cur = ''
  let size = 0
  for (const l of t) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l)
    if (m) { size = (parseInt(m[2]!, 16) - parseInt(m[1]!, 16)) / 1024; const big = size >= 65536 ? '64M' : size >= 8192 ? '8M+' : size >= 1024 ? '1M+' : 'small'; cur = `${m[3]} ${m[4] || 'anon'} ${m[4] ? '' : big}`; continue }
    const p = /^Pss:\s+(\d+)/.exec(l)
    if (p) g.set(cur, (g.get(cur) ?? 0) + Number(p[1]))
  }
  return [...g].sort((a, b) => b[1] - a[1]).slice(0, 7).map(([k, v]) => `${k.replace('/work/main/node_modules/node/bin/','')}: ${(v / 1024).toFixed(1)}`).join(' | ')
}
const N = Number(process.argv[2] ?? 1000)
const cacheBytes = process.argv[3] === undefined ? undefined : Number(process.argv[3])
const rt = new V8Runtime({ workers: 1, ...(cacheBytes === undefined ? {} : { moduleCacheBytes: cacheBytes }) })
await rt.start()
const job = (m: Uint8Array) => ({ jobId: 'j', moduleHash: contentHash(m), module: m, args: ['hello'], env: {}, stdin: new Uint8Array(), limits: { memoryBytes: 64 << 20, timeoutMs: 10000, outputBytes: 1 << 20 } })
await rt.run(job(hello))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
await sleep(5000)
console.log('idle      ', mem()); console.log(groups())
for (let i = 0; i < 300; i++) await rt.run({ ...job(hello), module: undefined })
await sleep(5000)
console.log('after load', mem())
const t0 = performance.now()
for (let i = 0; i < N; i++) await rt.run(job(distinct(i)))
const dt = performance.now() - t0
console.log(`ran ${N} distinct in ${(dt / 1000).toFixed(1)} s; cached ${rt.status().cachedModules} held ${((rt as unknown as { modules: { heldBytes: number } }).modules.heldBytes / 1048576).toFixed(1)} MiB est`, mem())
await sleep(5000)
console.log('after 5 s ', mem())
;(globalThis as unknown as { gc: () => void }).gc(); await sleep(5000)
console.log('main gc+5s', mem()); console.log(groups())
await rt.stop()
