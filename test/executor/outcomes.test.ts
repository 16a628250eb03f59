/**
 * Honest outcomes from the real pool: a trap carries its reason (one WAT module per reason),
 * compiling is reported apart from the run (`compileTimeUs`, only on the job that compiled),
 * CPU time is measured for short jobs, and files go in (/in) and out (/out) through the
 * worker's job and result messages, with the output cap ending a job that writes too much.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals'
import { createV8Runtime, type WasmRuntime, type WasmJob } from '../../services/executor/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { compileWat } from '../helpers/wat.ts'
import { figure } from '../helpers/figures.ts'
import { trapReason } from '../../services/executor/src/trap.ts'
import { wasm, section, vec, body, exportMemoryAndStart, s32 } from './wasm-bytes.ts'
import wabtInit from 'wabt'

const MiB = 1024 * 1024
const W = '"wasi_snapshot_preview1"'
const wabt = await wabtInit()
jest.setTimeout(120_000)

function job (module: Uint8Array, extra: Partial<WasmJob> = {}): WasmJob {
  return {
    jobId: 'sha256:' + '0'.repeat(64),
    moduleHash: contentHash(module),
    module,
    args: [],
    env: {},
    stdin: new Uint8Array(),
    limits: { memoryBytes: 16 * MiB, timeoutMs: 30_000, outputBytes: MiB },
    ...extra
  }
}

/** `(module <body>)` with a memory and `_start`, wasm exceptions allowed. */
function mod (bodyText: string): Uint8Array {
  const m = wabt.parseWat('trap.wat', `(module (memory (export "memory") 1) ${bodyText})`, { exceptions: true })
  try { return new Uint8Array(m.toBinary({}).buffer) } finally { m.destroy() }
}

/** struct.get on a null struct ref (wabt cannot write GC opcodes). */
const nullStruct = wasm(
  section(1, vec([[0x5f, 1, 0x7f, 0x00], [0x60, 0, 0]])),
  section(3, vec([[1]])), section(5, vec([[0, 1]])), exportMemoryAndStart(0),
  section(10, vec([body([], [0xd0, 0x00, 0xfb, 0x02, 0, 0, 0x1a])])))
/** ref.cast of a struct to an unrelated struct type. */
const badCast = wasm(
  section(1, vec([[0x5f, 1, 0x7f, 0x00], [0x5f, 1, 0x7e, 0x00], [0x60, 0, 0]])),
  section(3, vec([[2]])), section(5, vec([[0, 1]])), exportMemoryAndStart(0),
  section(10, vec([body([], [0x41, ...s32(1), 0xfb, 0x00, 0, 0xfb, 0x16, 1, 0x1a])])))

describe('V8 runtime outcomes', () => {
  let runtime: WasmRuntime

  beforeAll(async () => {
    runtime = createV8Runtime({ workers: 1, maxMemoryBytes: 64 * MiB })
    await runtime.start()
  })
  afterAll(async () => { await runtime.stop() })

  it.each([
    ['unreachable', mod('(func (export "_start") unreachable)')],
    ['stack_overflow', mod('(func $f (export "_start") (call $f))')],
    ['memory_out_of_bounds', mod('(func (export "_start") (drop (i32.load (i32.const 70000))))')],
    ['table_out_of_bounds', mod('(table 1 funcref) (func (export "_start") (call_indirect (i32.const 5)))')],
    ['indirect_call_mismatch', mod('(table 1 funcref) (elem (i32.const 0) $g) (func $g (param i32)) (func (export "_start") (call_indirect (i32.const 0)))')],
    ['null_reference', nullStruct],
    ['divide_by_zero', mod('(func (export "_start") (drop (i32.rem_u (i32.const 1) (i32.const 0))))')],
    ['integer_overflow', mod('(func (export "_start") (drop (i64.div_s (i64.const -9223372036854775808) (i64.const -1))))')],
    ['invalid_conversion', mod('(func (export "_start") (drop (i32.trunc_f64_s (f64.const 1e300))))')],
    ['cast_failure', badCast],
    ['uncaught_exception', mod('(tag $e) (func (export "_start") (throw $e))')]
  ])('reports a trap as %s', async (reason, module) => {
    const r = await runtime.run(job(module))
    expect(r).toMatchObject({ status: 'trap', trap: reason, exitCode: -1 })
  })

  it('classifies anything that is no wasm trap as other', () => {
    expect(trapReason(new Error('host bug'))).toBe('other')
    expect(trapReason(new WebAssembly.RuntimeError('some future trap'))).toBe('other')
    expect(trapReason(new RangeError('Offset is outside the bounds of the DataView'))).toBe('other')
  })

  it('gives no trap field to an exit or a timeout', async () => {
    const exit = wabt.parseWat('exit.wat', `(module (import ${W} "proc_exit" (func $x (param i32))) (memory (export "memory") 1) (func (export "_start") (call $x (i32.const 3))))`)
    const r = await runtime.run(job(new Uint8Array(exit.toBinary({}).buffer)))
    exit.destroy()
    expect(r).toMatchObject({ status: 'exit', exitCode: 3 })
    expect(r.trap).toBeUndefined()
    const timeout = await runtime.run(job(mod('(func (export "_start") (loop $l (br $l)))'), { limits: { memoryBytes: MiB, timeoutMs: 50, outputBytes: 0 } }))
    expect(timeout.status).toBe('timeout')
    expect(timeout.trap).toBeUndefined()
  })

  it('reports compiling apart (compileTimeUs on the cold job only), not in the wall time', async () => {
    // 2,000 functions, each called once: compiled lazily, they would be compiled inside the run.
    const n = 2000
    const module = new Uint8Array(await compileWat(`(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
      ${Array.from({ length: n }, (_, i) => `(func $f${i} (global.set $g (i32.add (global.get $g) (i32.mul (global.get $g) (i32.const ${i + 3})))))`).join('\n')}
      (func (export "_start") ${Array.from({ length: n }, (_, i) => `(call $f${i})`).join(' ')}))`))
    const cold = await runtime.run(job(module))
    const warm = await runtime.run(job(module))
    expect(cold.status).toBe('ok')
    expect(cold.compileTimeUs).toBeGreaterThan(0)
    expect(warm.compileTimeUs).toBeUndefined()
    figure('outcomes', 'compile of 2,000 functions, reported apart', Math.round(cold.compileTimeUs! / 1000), `ms; cold run ${cold.wallTimeUs} µs, warm run ${warm.wallTimeUs} µs`)
    expect(cold.wallTimeUs).toBeLessThan(cold.compileTimeUs!)
  })

  it('measures the CPU time of a job of a few milliseconds (not 0)', async () => {
    const spin = mod('(func (export "_start") (local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 3000000)))))')
    await runtime.run(job(spin))
    const results = []
    for (let i = 0; i < 5; i++) results.push(await runtime.run(job(spin)))
    figure('outcomes', 'CPU time of a ~3M-iteration loop', results.map((r) => r.cpuTimeUs).join(', '), `µs (wall ${results.map((r) => r.wallTimeUs).join(', ')} µs)`)
    for (const r of results) expect(r.cpuTimeUs).toBeGreaterThan(0)
  })

  it('gives the guest its input files under /in and returns what it wrote under /out, sorted', async () => {
    // Copies /in/a.txt to /out/z/copy.txt and writes /out/b.txt.
    const copy = new Uint8Array(await compileWat(`(module
      (import ${W} "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import ${W} "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
      (import ${W} "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
      (import ${W} "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (import ${W} "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "a.txt") (data (i32.const 110) "z") (data (i32.const 120) "z/copy.txt") (data (i32.const 140) "b.txt") (data (i32.const 150) "B!")
      (func $check (param i32) (if (local.get 0) (then (call $exit (local.get 0)))))
      (func (export "_start")
        (call $check (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))
        (i32.store (i32.const 8) (i32.const 1024)) (i32.store (i32.const 12) (i32.const 4096))
        (call $check (call $read (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16)))
        (call $check (call $mkdir (i32.const 4) (i32.const 110) (i32.const 1)))
        (call $check (call $open (i32.const 4) (i32.const 0) (i32.const 120) (i32.const 10) (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))
        (i32.store (i32.const 12) (i32.load (i32.const 16)))
        (call $check (call $write (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16)))
        (call $check (call $open (i32.const 4) (i32.const 0) (i32.const 140) (i32.const 5) (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))
        (i32.store (i32.const 8) (i32.const 150)) (i32.store (i32.const 12) (i32.const 2))
        (call $check (call $write (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16)))))`))
    const data = new TextEncoder().encode('input bytes')
    const r = await runtime.run(job(copy, { inputs: [{ path: '/in/a.txt', data }] }))
    expect(r.status).toBe('ok')
    expect(r.outputs.map((o) => [o.path, new TextDecoder().decode(o.data)])).toEqual([['/out/b.txt', 'B!'], ['/out/z/copy.txt', 'input bytes']])
    // The input was copied to the worker, not moved: the caller's bytes are intact.
    expect(new TextDecoder().decode(data)).toBe('input bytes')
  })

  it('ends a job output_limit when its files pass the output cap, and the worker serves the next job', async () => {
    const flood = new Uint8Array(await compileWat(`(module
      (import ${W} "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import ${W} "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (data (i32.const 100) "big")
      (func (export "_start")
        (drop (call $open (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 3) (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))
        (i32.store (i32.const 8) (i32.const 1024)) (i32.store (i32.const 12) (i32.const 60000))
        (loop $l (drop (call $write (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16))) (br $l))))`))
    const r = await runtime.run(job(flood, { limits: { memoryBytes: MiB, timeoutMs: 30_000, outputBytes: 200_000 } }))
    expect(r.status).toBe('output_limit')
    expect(r.outputs.map((o) => o.data.byteLength)).toEqual([180_000])
    const again = await runtime.run(job(mod('(func (export "_start"))')))
    expect(again.status).toBe('ok')
  })
})
