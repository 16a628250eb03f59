/**
 * Honest outcomes from each real runtime (V8 worker threads, wasmer runner processes): args, env
 * and stdin reach the guest, a trap carries its reason (one WAT module per reason), compiling is
 * reported apart from the run (`compileTimeUs`, only on the job that compiled), CPU time is
 * measured for short jobs, and files go in (/in) and out (/out) through the worker's job and
 * result messages, with the output cap ending a job that writes too much. What wasmer cannot do
 * it refuses with `runtime_unavailable`, and the expectation says so.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals'
import { type WasmRuntime, type WasmJob } from '../../services/executor/src/index.ts'
import { createRuntime, per, RUNTIME_KINDS } from './runtimes.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { compileWat } from '../helpers/wat.ts'
import { figure } from '../helpers/figures.ts'
import { trapReason } from '../../services/executor/src/trap.ts'
import { wasm, section, vec, body, exportMemoryAndStart, s32 } from './wasm-bytes.ts'
import wabtInit from 'wabt'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from '../helpers/node-harness.ts'

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

/** Writes its args (NUL-separated, as args_get gives them) and then stdin to stdout, its environment to stderr. */
const echo = (() => {
  const m = wabt.parseWat('echo.wat', `(module
  (import ${W} "args_sizes_get" (func $as (param i32 i32) (result i32)))
  (import ${W} "args_get" (func $ag (param i32 i32) (result i32)))
  (import ${W} "environ_sizes_get" (func $es (param i32 i32) (result i32)))
  (import ${W} "environ_get" (func $eg (param i32 i32) (result i32)))
  (import ${W} "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import ${W} "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $out (param $fd i32) (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p)) (i32.store (i32.const 4) (local.get $n))
    (drop (call $w (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (drop (call $as (i32.const 16) (i32.const 20))) (drop (call $ag (i32.const 2048) (i32.const 4096)))
    (call $out (i32.const 1) (i32.const 4096) (i32.load (i32.const 20)))
    (drop (call $es (i32.const 16) (i32.const 20))) (drop (call $eg (i32.const 2048) (i32.const 8192)))
    (call $out (i32.const 2) (i32.const 8192) (i32.load (i32.const 20)))
    (i32.store (i32.const 32) (i32.const 12288)) (i32.store (i32.const 36) (i32.const 4096))
    (drop (call $r (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 40)))
    (call $out (i32.const 1) (i32.const 12288) (i32.load (i32.const 40)))))`)
  try { return new Uint8Array(m.toBinary({}).buffer) } finally { m.destroy() }
})()

describe.each(RUNTIME_KINDS)('%s runtime outcomes', (kind) => {
  let runtime: WasmRuntime

  beforeAll(async () => {
    runtime = createRuntime(kind, { workers: 1, maxMemoryBytes: 64 * MiB })
    await runtime.start()
  })
  afterAll(async () => { await runtime.stop() })

  it('gives the guest its args after argv[0], its env and its stdin', async () => {
    const r = await runtime.run(job(echo, { args: ['a', 'b c', ''], env: { K: 'V', EMPTY: '' }, stdin: new TextEncoder().encode('from stdin') }))
    expect(r.status).toBe('ok')
    const [argv0, ...rest] = new TextDecoder().decode(r.stdout).split('\0')
    figure('outcomes', `${kind}: argv[0]`, JSON.stringify(argv0))
    expect(rest).toEqual(['a', 'b c', '', 'from stdin'])
    expect(new TextDecoder().decode(r.stderr).split('\0').filter((e) => e !== '').sort()).toEqual(['EMPTY=', 'K=V'])
  })

  it('refuses initial memory above the job\'s cap and stops memory.grow at the cap', async () => {
    const wat = (text: string): Uint8Array => { const m = wabt.parseWat('mem.wat', text); try { return new Uint8Array(m.toBinary({}).buffer) } finally { m.destroy() } }
    // 16 MiB cap = 256 pages.
    const tooBig = wat('(module (memory (export "memory") 257) (func (export "_start")))')
    await expect(runtime.run(job(tooBig))).rejects.toMatchObject({ code: 'invalid_module' })
    const grower = wat(`(module (import ${W} "proc_exit" (func $x (param i32))) (memory (export "memory") 1)
      (func (export "_start") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (call $x (i32.shr_u (memory.size) (i32.const 2)))))`)
    const r = await runtime.run(job(grower))
    // V8 tells the cap's refusal apart (memory_limit); wasmer cannot read that record: the guest's
    // exit. The exit code is pages / 4 (64): wasmer keeps only 8 bits of a positive exit code.
    expect(r).toMatchObject({ status: per(kind, { v8: 'memory_limit', wasmer: 'exit' }), exitCode: 64 })
  })

  it('runs an ordinary C program (wasi-libc printf, no files) to the same output', async () => {
    const printf = new Uint8Array(await readFile(join(ROOT, 'test/programs/c/printf.wasm')))
    const r = await runtime.run(job(printf, { args: ['2000'] }))
    expect(r).toMatchObject({ status: 'ok', exitCode: 0 })
    const lines = new TextDecoder().decode(r.stdout).split('\n')
    expect(lines).toHaveLength(2001)
    expect(lines[1999]).toBe('line 1999')
  })

  it('names itself: the receipt says which runtime ran the job', () => {
    expect(runtime.name).toBe(per(kind, { v8: 'v8-wasm', wasmer: 'wasmer' }))
    expect(runtime.version).toMatch(per(kind, { v8: /^node-.+\/v8-/, wasmer: /^wasmer-sdk-0\.16\.0\/node-/ }))
  })

  it('runs the deterministic profile and fuel on v8, and wasmer refuses them (runtime_unavailable)', async () => {
    const det = runtime.run(job(echo, { profile: 'deterministic' }))
    const fuel = runtime.run(job(echo, { limits: { memoryBytes: 16 * MiB, timeoutMs: 30_000, outputBytes: MiB, fuel: 1_000_000n } }))
    if (kind === 'wasmer') {
      await expect(det).rejects.toMatchObject({ code: 'runtime_unavailable' })
      await expect(fuel).rejects.toMatchObject({ code: 'runtime_unavailable' })
      return
    }
    expect((await det).fuelUsed).toBeGreaterThan(0n)
    expect((await fuel).fuelUsed).toBeGreaterThan(0n)
  })

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
    const r = runtime.run(job(module))
    // wasmer: no GC types (refused before a runner sees them).
    if (kind === 'wasmer' && (reason === 'null_reference' || reason === 'cast_failure')) {
      await expect(r).rejects.toMatchObject({ code: 'runtime_unavailable' })
      return
    }
    expect(await r).toMatchObject({ status: 'trap', trap: reason, exitCode: -1 })
  })

  it('keeps what the guest wrote before it trapped', async () => {
    const m = wabt.parseWat('before.wat', `(module (import ${W} "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (data (i32.const 64) "before the trap")
      (func (export "_start") (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 15))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8))) unreachable))`)
    const module = new Uint8Array(m.toBinary({}).buffer)
    m.destroy()
    const r = await runtime.run(job(module))
    expect(r).toMatchObject({ status: 'trap', trap: 'unreachable' })
    expect(new TextDecoder().decode(r.stdout)).toBe('before the trap')
    expect(new TextDecoder().decode(r.stderr)).toBe('before the trap')
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
    figure('outcomes', `${kind}: compile of 2,000 functions, reported apart`, Math.round(cold.compileTimeUs! / 1000), `ms; cold run ${cold.wallTimeUs} µs, warm run ${warm.wallTimeUs} µs`)
    // wasmer: what is reported apart is admitting, validating and loading the package; the SDK
    // compiles the guest inside its run, so the cold run's wall time includes V8's compile.
    if (kind === 'v8') expect(cold.wallTimeUs).toBeLessThan(cold.compileTimeUs!)
  })

  it('measures the CPU time of a job of a few milliseconds (not 0)', async () => {
    const spin = mod('(func (export "_start") (local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 3000000)))))')
    await runtime.run(job(spin))
    const results = []
    for (let i = 0; i < 5; i++) results.push(await runtime.run(job(spin)))
    figure('outcomes', 'CPU time of a ~3M-iteration loop', results.map((r) => r.cpuTimeUs).join(', '), `µs (wall ${results.map((r) => r.wallTimeUs).join(', ')} µs)`)
    for (const r of results) expect(r.cpuTimeUs).toBeGreaterThan(0)
  })

  it('gives the guest its input files under /in and returns what it wrote under /out, sorted (wasmer: refuses input files)', async () => {
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
    if (kind === 'wasmer') {
      // No /in, /out on wasmer: refused, never run without its files.
      await expect(runtime.run(job(copy, { inputs: [{ path: '/in/a.txt', data }] }))).rejects.toMatchObject({ code: 'runtime_unavailable' })
      return
    }
    const r = await runtime.run(job(copy, { inputs: [{ path: '/in/a.txt', data }] }))
    expect(r.status).toBe('ok')
    expect(r.outputs.map((o) => [o.path, new TextDecoder().decode(o.data)])).toEqual([['/out/b.txt', 'B!'], ['/out/z/copy.txt', 'input bytes']])
    // The input was copied to the worker, not moved: the caller's bytes are intact.
    expect(new TextDecoder().decode(data)).toBe('input bytes')
  })

  it('ends a job output_limit when its files pass the output cap (wasmer: its RSS bound), and the worker serves the next job', async () => {
    const flood = new Uint8Array(await compileWat(`(module
      (import ${W} "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import ${W} "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (data (i32.const 100) "big")
      (func (export "_start")
        (drop (call $open (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 3) (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))
        (i32.store (i32.const 8) (i32.const 1024)) (i32.store (i32.const 12) (i32.const 60000))
        (loop $l (drop (call $write (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16))) (br $l))))`))
    const r = await runtime.run(job(flood, { limits: { memoryBytes: MiB, timeoutMs: 5000, outputBytes: 200_000 } }))
    if (kind === 'wasmer') {
      // wasmer's fd 4 is "." of the sandbox's in-memory file system, which the output cap does
      // not count: the file grows until the runner's RSS bound (or the wall time) ends the job.
      expect(r.status).toMatch(/^(memory_limit|timeout)$/)
    } else {
      expect(r.status).toBe('output_limit')
      expect(r.outputs.map((o) => o.data.byteLength)).toEqual([180_000])
    }
    const again = await runtime.run(job(mod('(func (export "_start"))')))
    expect(again.status).toBe('ok')
  })
})
