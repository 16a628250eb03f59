/**
 * The V8 runtime against hostile modules: each ends with the right status or a typed error,
 * and the pool keeps serving good jobs after every one.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createV8Runtime, type WasmRuntime, type WasmJob } from '../../services/executor/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { compileWat } from '../helpers/wat.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { waitFor } from '../helpers/wait-for.ts'

const HELLO = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const MiB = 1024 * 1024
const WASI = '"wasi_snapshot_preview1"'

function job (module: Uint8Array, extra: Partial<WasmJob> = {}): WasmJob {
  return {
    jobId: 'sha256:' + '0'.repeat(64),
    moduleHash: contentHash(module),
    module,
    args: [],
    env: {},
    stdin: new Uint8Array(),
    limits: { memoryBytes: 64 * MiB, timeoutMs: 2000, outputBytes: MiB },
    ...extra
  }
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('V8 runtime', () => {
  let runtime: WasmRuntime

  beforeAll(async () => {
    runtime = createV8Runtime({ workers: 2, queueCapacity: 4, maxMemoryBytes: 128 * MiB, maxModuleBytes: 4 * MiB })
    await runtime.start()
  })
  afterAll(async () => { await runtime.stop(); await runtime.stop() })

  async function stillServes (): Promise<void> {
    const r = await runtime.run(job(HELLO, { args: ['ok'] }))
    expect(text(r.stdout)).toBe('ko\n')
  }

  it('runs hello with args, stdin and UTF-8', async () => {
    expect(text((await runtime.run(job(HELLO, { args: ['Hello,', 'World'] }))).stdout)).toBe('dlroW ,olleH\n')
    expect(text((await runtime.run(job(HELLO, { stdin: new TextEncoder().encode('stressed') }))).stdout)).toBe('desserts\n')
    expect(text((await runtime.run(job(HELLO, { args: ['añb€'] }))).stdout)).toBe('€bña\n')
  })

  it('runs a cached module by hash only, and asks for bytes it never saw', async () => {
    await runtime.run(job(HELLO))
    expect(runtime.hasModule(contentHash(HELLO))).toBe(true)
    const { module: _m, ...byHash } = job(HELLO, { args: ['x'] })
    expect(text((await runtime.run(byHash)).stdout)).toBe('x\n')
    await expect(runtime.run({ ...byHash, moduleHash: 'sha256:' + '1'.repeat(64) })).rejects.toMatchObject({ code: 'module_not_cached' })
  })

  it('passes env and reports a non-zero exit as status exit', async () => {
    const wasm = await compileWat(`(module
      (import ${WASI} "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
      (import ${WASI} "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (drop (call $sizes (i32.const 0) (i32.const 4))) (call $exit (i32.add (i32.const 40) (i32.load (i32.const 0))))))`)
    const r = await runtime.run(job(wasm, { env: { A: '1', B: '2' } }))
    expect(r).toMatchObject({ status: 'exit', exitCode: 42 })
  })

  it('stops an infinite loop at its wall-time limit', async () => {
    const loop = await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')
    const r = await runtime.run(job(loop, { limits: { memoryBytes: MiB, timeoutMs: 100, outputBytes: 0 } }))
    expect(r.status).toBe('timeout')
    expect(r.exitCode).toBe(-1)
    expect(r.wallTimeUs).toBeGreaterThanOrEqual(100_000)
    await stillServes()
  })

  it('ends a memory bomb with no declared maximum at the cap with memory_limit', async () => {
    const bomb = await compileWat(`(module (memory (export "memory") 1)
      (func (export "_start") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable))`)
    const r = await runtime.run(job(bomb, { limits: { memoryBytes: 32 * MiB, timeoutMs: 5000, outputBytes: 0 } }))
    expect(r.status).toBe('memory_limit')
    await stillServes()
  })

  it('refuses 4 GiB of initial memory before running anything', async () => {
    const big = await compileWat('(module (memory (export "memory") 65536) (func (export "_start")))')
    await expect(runtime.run(job(big))).rejects.toMatchObject({ code: 'invalid_module', message: expect.stringContaining('4096 MiB') })
    await stillServes()
  })

  it('never lets a job ask for more memory than the runtime cap', async () => {
    const wasm = await compileWat(`(module (memory (export "memory") 1)
      (func (export "_start") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 64)) (i32.const -1)))) unreachable))`)
    const r = await runtime.run(job(wasm, { limits: { memoryBytes: 4096 * MiB, timeoutMs: 5000, outputBytes: 0 } }))
    expect(r.status).toBe('memory_limit')
    expect(r.detail).toContain(String(128 * MiB))
  })

  it('turns deep recursion into a trap', async () => {
    const rec = await compileWat('(module (memory (export "memory") 1) (func $f (call $f)) (func (export "_start") (call $f)))')
    const r = await runtime.run(job(rec))
    expect(r.status).toBe('trap')
    expect(r.detail).toMatch(/stack/i)
    await stillServes()
  })

  it('cuts a flood of 1 GiB of stdout at the output cap', async () => {
    const flood = await compileWat(`(module
      (import ${WASI} "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 17)
      (func (export "_start") (local $i i32)
        (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 1048576))
        (loop $l (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 1024))))))`)
    const r = await runtime.run(job(flood, { limits: { memoryBytes: 64 * MiB, timeoutMs: 5000, outputBytes: 100_000 } }))
    expect(r.status).toBe('output_limit')
    expect(r.stdout.byteLength).toBe(100_000)
    await stillServes()
  })

  it('gives a file open outside the preopens /in and /out ENOTCAPABLE', async () => {
    const open = await compileWat(`(module
      (import ${WASI} "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import ${WASI} "fd_prestat_get" (func $pre (param i32 i32) (result i32)))
      (import ${WASI} "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "/etc/passwd")
      (data (i32.const 96) "../etc/passwd")
      (func (export "_start")
        (if (i32.ne (call $pre (i32.const 3) (i32.const 0)) (i32.const 0)) (then (call $exit (i32.const 1))))
        (if (i32.ne (call $pre (i32.const 4) (i32.const 0)) (i32.const 0)) (then (call $exit (i32.const 2))))
        (if (i32.ne (call $pre (i32.const 5) (i32.const 0)) (i32.const 8)) (then (call $exit (i32.const 3))))
        (if (i32.ne (call $open (i32.const 4) (i32.const 0) (i32.const 96) (i32.const 13) (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)) (i32.const 76))
          (then (call $exit (i32.const 4))))
        (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 11) (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))))`)
    const r = await runtime.run(job(open))
    expect(r).toMatchObject({ status: 'exit', exitCode: 76 })
    await stillServes()
  })

  it.each([
    ['imported memory', `(module (import "env" "memory" (memory 1)) (func (export "_start")))`, /imported memory/],
    ['shared memory', '(module (memory (export "memory") 1 1 shared) (func (export "_start")))', /shared memory/],
    ['an unknown import', '(module (import "env" "system" (func)) (memory (export "memory") 1) (func (export "_start")))', /only wasi_snapshot_preview1/],
    ['no _start', '(module (memory (export "memory") 1))', /_start/]
  ])('refuses %s with invalid_module', async (_name, wat, message) => {
    const wasm = await compileWat(wat)
    await expect(runtime.run(job(wasm))).rejects.toMatchObject({ code: 'invalid_module', message: expect.stringMatching(message) })
  })

  it('refuses invalid bytes, a wrong hash and an oversized module', async () => {
    const junk = new TextEncoder().encode('\0asm\x01\0\0\0garbage')
    await expect(runtime.run(job(junk))).rejects.toMatchObject({ code: 'invalid_module' })
    await expect(runtime.run({ ...job(HELLO), moduleHash: 'sha256:' + 'a'.repeat(64) })).rejects.toMatchObject({ code: 'hash_mismatch' })
    await expect(runtime.run(job(new Uint8Array(5 * MiB)))).rejects.toMatchObject({ code: 'module_too_large' })
  })

  it('answers queue_full when the queue is at capacity, and cancels on abort', async () => {
    const loop = await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')
    const controller = new AbortController()
    const slow = job(loop, { limits: { memoryBytes: MiB, timeoutMs: 10_000, outputBytes: 0 } })
    // Compile once first, so the burst below is queued in order.
    await runtime.run({ ...slow, limits: { ...slow.limits, timeoutMs: 1 } })
    await waitFor(() => runtime.status().workers === 2, { what: 'both workers ready', intervalMs: 5 })
    const running = Array.from({ length: 6 }, async () => await runtime.run(slow, { signal: controller.signal }).catch((e: unknown) => e))
    // Two running and four queued: the queue is at its capacity.
    await waitFor(() => runtime.status().running + runtime.status().queued === 6, { what: 'the six jobs running or queued', intervalMs: 5 })
    await expect(runtime.run(slow)).rejects.toMatchObject({ code: 'queue_full' })
    // A module it has not compiled is refused before any compiling: nothing is cached for it.
    const fresh = await compileWat('(module (memory (export "memory") 1) (func (export "_start") (nop) (nop)))')
    await expect(runtime.run(job(fresh))).rejects.toMatchObject({ code: 'queue_full' })
    expect(runtime.hasModule(contentHash(fresh))).toBe(false)
    controller.abort()
    const results = await Promise.all(running)
    expect(results.map((e) => (e as { code?: string }).code)).toEqual(Array(6).fill('cancelled'))
    await stillServes()
  })
})

describe('V8 runtime stopped while it builds a module', () => {
  it('answers the job unavailable instead of queueing it on a stopped runtime', async () => {
    const { bigModule } = await import('../helpers/big-module.ts')
    const runtime = createV8Runtime({ workers: 1, queueCapacity: 4, maxMemoryBytes: 128 * MiB, maxModuleBytes: 16 * MiB })
    await runtime.start()
    const running = runtime.run(job(bigModule(3 * MiB)))
    // The build pauses between slices of its code: the stop comes during it.
    await new Promise((resolve) => setImmediate(resolve))
    await runtime.stop()
    await expect(running).rejects.toMatchObject({ code: 'unavailable' })
  })
})
