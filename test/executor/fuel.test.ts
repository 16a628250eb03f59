/**
 * Fuel (issue 12, point 5) and the deterministic profile (point 6) against the real pool: exact
 * fuel counts, fuel_exhausted that a guest cannot catch, the node's cap, the worker reused after
 * exhaustion, a virtual clock and a seeded random stream.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import wabtInit from 'wabt'
import { createV8Runtime, createExecutorService, type WasmRuntime, type WasmJob } from '../../services/executor/src/index.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { compiledCost } from '../../services/executor/src/pool/module-cache.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { wasm, section, vec, body, name, s32, exportMemoryAndStart } from './wasm-bytes.ts'

const HELLO = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const MiB = 1024 * 1024
const W = '"wasi_snapshot_preview1"'
const CAP = 5_000_000n
const wabt = await wabtInit()

function wat (source: string): Uint8Array {
  const mod = wabt.parseWat('fuel.wat', source, { exceptions: true })
  try { return new Uint8Array(mod.toBinary({}).buffer) } finally { mod.destroy() }
}

function job (module: Uint8Array, extra: Partial<WasmJob> = {}, fuel?: bigint): WasmJob {
  return {
    jobId: 'sha256:' + '1'.repeat(64),
    moduleHash: contentHash(module),
    module,
    args: [],
    env: {},
    stdin: new Uint8Array(),
    ...extra,
    limits: { memoryBytes: 16 * MiB, timeoutMs: 20_000, outputBytes: MiB, ...(fuel === undefined ? {} : { fuel }) }
  }
}

/** 100 iterations of an 8-instruction loop: 1 (loop) + 100 × 8 + 2 (the two ends) = 803 units. */
const COUNTER = wat(`(module (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))))`)

const SPIN = wat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')

/** Spins inside a legacy try/catch_all whose handler exits 0: a guest trying to survive the fuel trap. */
const CATCHER = wat(`(module
  (import ${W} "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (try (do (loop $l (br $l))) (catch_all (call $exit (i32.const 0))))))`)

/** The same with try_table (catch_all): built from bytes (wabt has no try_table). */
const TRY_TABLE_CATCHER = wasm(
  section(1, vec([[0x60, 0, 0]])),
  section(3, vec([[0]])),
  section(5, vec([[0, 1]])),
  exportMemoryAndStart(0),
  section(10, vec([body([], [0x02, 0x40, 0x1f, 0x40, ...vec([[0x02, 0]]), 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b, 0x0b])]))
)

/** Prints clock_time_get(realtime), clock_time_get(monotonic), clock_res_get, then 40 random bytes. */
const CLOCKS = wat(`(module
  (import ${W} "clock_time_get" (func $time (param i32 i64 i32) (result i32)))
  (import ${W} "clock_res_get" (func $res (param i32 i32) (result i32)))
  (import ${W} "random_get" (func $random (param i32 i32) (result i32)))
  (import ${W} "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (drop (call $time (i32.const 0) (i64.const 1) (i32.const 100)))
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
    (drop (call $time (i32.const 1) (i64.const 1) (i32.const 108)))
    (drop (call $res (i32.const 0) (i32.const 116)))
    (drop (call $random (i32.const 124) (i32.const 8)))
    (drop (call $random (i32.const 132) (i32.const 32)))
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 64))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`)

function clocks (stdout: Uint8Array): { realtime: bigint, monotonic: bigint, resolution: bigint, random: Buffer } {
  const b = Buffer.from(stdout)
  return { realtime: b.readBigUInt64LE(0), monotonic: b.readBigUInt64LE(8), resolution: b.readBigUInt64LE(16), random: b.subarray(24, 64) }
}

describe('fuel', () => {
  let runtime: WasmRuntime
  const workerOf = (): Worker => (runtime as unknown as { slots: { host: (slot: number) => { worker: Worker } | undefined } }).slots.host(0)!.worker

  beforeAll(async () => { runtime = createV8Runtime({ workers: 1, maxFuel: CAP }); await runtime.start() })
  afterAll(async () => { await runtime.stop() })

  it('counts the fuel of a job exactly, the same on every run', async () => {
    for (let i = 0; i < 3; i++) expect(await runtime.run(job(COUNTER, {}, 1000n))).toMatchObject({ status: 'ok', fuelUsed: 803n })
  })

  it('reports no fuel for an unmetered job', async () => {
    const r = await runtime.run(job(COUNTER))
    expect(r.status).toBe('ok')
    expect(r.fuelUsed).toBeUndefined()
  })

  it('ends a job with fuel_exhausted at its fuel, and the same worker then runs the next job', async () => {
    const before = workerOf()
    const r = await runtime.run(job(SPIN, {}, 100_000n))
    expect(r).toMatchObject({ status: 'fuel_exhausted', exitCode: -1, fuelUsed: 100_000n, detail: 'fuel limit of 100000 exhausted' })
    const next = await runtime.run(job(HELLO, { args: ['ok'] }))
    expect(new TextDecoder().decode(next.stdout)).toBe('ko\n')
    expect(workerOf()).toBe(before)
  })

  it('ends a job at its fuel when its fuel runs out one unit short', async () => {
    expect(await runtime.run(job(COUNTER, {}, 802n))).toMatchObject({ status: 'fuel_exhausted', fuelUsed: 802n })
    expect(await runtime.run(job(COUNTER, {}, 803n))).toMatchObject({ status: 'ok', fuelUsed: 803n })
  })

  it.each([['try/catch_all', CATCHER], ['try_table catch_all', TRY_TABLE_CATCHER]])('keeps fuel_exhausted when the guest catches everything (%s)', async (_name, module) => {
    expect(await runtime.run(job(module, {}, 50_000n))).toMatchObject({ status: 'fuel_exhausted', fuelUsed: 50_000n })
  })

  it('lowers the fuel a job asks to the node\'s cap', async () => {
    expect(await runtime.run(job(SPIN, {}, CAP * 1000n))).toMatchObject({ status: 'fuel_exhausted', fuelUsed: CAP })
  })

  it('meters a module\'s start function with the job\'s fuel (it runs after the fuel is set), and it may print', async () => {
    // $init: the loop (1), 10 × 8, then one stretch of 14 (the loop's end, two stores, the
    // fd_write call, drop, end); _start: nop, end = 2.
    const module = wat(`(module
      (import ${W} "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "hi")
      (func $init (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 2))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
      (start $init)
      (func (export "_start") nop))`)
    const r = await runtime.run(job(module, {}, 1000n))
    expect(r).toMatchObject({ status: 'ok', fuelUsed: 1n + 80n + 14n + 2n })
    expect(new TextDecoder().decode(r.stdout)).toBe('hi')
  })

  it('charges a bulk operation 1 unit per 64 bytes of its length besides its own instruction', async () => {
    // i32.const ×3, memory.fill, end = 5, plus 65536 / 64.
    const fill = wat('(module (memory (export "memory") 1) (func (export "_start") (memory.fill (i32.const 0) (i32.const 7) (i32.const 65536))))')
    expect(await runtime.run(job(fill, {}, 10_000n))).toMatchObject({ status: 'ok', fuelUsed: 5n + 1024n })
    // The same inside a try (a function with exception handling charges the global directly):
    // try, i32.const ×3, memory.copy, end (try), end = 7, plus 32768 / 64.
    const copy = wat('(module (memory (export "memory") 1) (func (export "_start") (try (do (memory.copy (i32.const 0) (i32.const 32768) (i32.const 32768))) (catch_all))))')
    expect(await runtime.run(job(copy, {}, 10_000n))).toMatchObject({ status: 'ok', fuelUsed: 7n + 512n })
    // A 4 GiB-a-time guest cannot fill memory for free: 1024 fills of 64 KiB need 1024 × 1024 units.
    const many = wat(`(module (memory (export "memory") 1) (func (export "_start") (local $i i32)
      (loop $l (memory.fill (i32.const 0) (i32.const 0) (i32.const 65536))
        (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 1024))))))`)
    expect(await runtime.run(job(many, {}, 500_000n))).toMatchObject({ status: 'fuel_exhausted', fuelUsed: 500_000n })
  })

  it('refuses a fuel of 0 with a typed error', async () => {
    await expect(runtime.run(job(COUNTER, {}, 0n))).rejects.toMatchObject({ code: 'invalid_argument' })
  })

  it('asks for the bytes of a module cached only without metering when a metered job names it by hash', async () => {
    const module = wat('(module (memory (export "memory") 1) (func (export "_start") nop))')
    await runtime.run(job(module))
    const { module: _m, ...byHash } = job(module, {}, 10n)
    await expect(runtime.run(byHash)).rejects.toMatchObject({ code: 'module_not_cached', message: expect.stringContaining('in its metered variant') })
    await runtime.run(job(module, {}, 10n))
    expect(await runtime.run(byHash)).toMatchObject({ status: 'ok', fuelUsed: 2n })
  })
})

describe('deterministic profile', () => {
  let runtime: WasmRuntime
  beforeAll(async () => { runtime = createV8Runtime({ workers: 1, maxFuel: CAP }); await runtime.start() })
  afterAll(async () => { await runtime.stop() })

  it('gives a virtual clock (fuel used, 1 ns per unit, from 0) and the job id\'s random stream, identical run to run', async () => {
    const a = await runtime.run(job(CLOCKS, { profile: 'deterministic' }))
    const b = await runtime.run(job(CLOCKS, { profile: 'deterministic' }))
    expect(a.status).toBe('ok')
    expect(Buffer.from(a.stdout)).toEqual(Buffer.from(b.stdout))
    expect(a.fuelUsed).toBe(b.fuelUsed)
    const c = clocks(a.stdout)
    // A stretch is charged whole at its start: the first read sees _start's first stretch, the
    // 6 instructions up to and including the loop.
    expect(c.realtime).toBe(6n)
    // The loop in between: 1000 × 8 units, plus the stretches around it.
    expect(c.monotonic - c.realtime).toBeGreaterThan(8000n)
    // After the loop, the rest of _start is one stretch (calls are no boundary), charged at its start.
    expect(c.monotonic).toBe(a.fuelUsed)
    expect(c.resolution).toBe(1n)
    // sha256(seed || counter) blocks, seed = sha256("phase-random:v1:" || job id); two calls continue one stream.
    const seed = createHash('sha256').update('phase-random:v1:' + 'sha256:' + '1'.repeat(64)).digest()
    const block = (i: number): Buffer => { const n = Buffer.alloc(8); n.writeBigUInt64BE(BigInt(i)); return createHash('sha256').update(Buffer.concat([seed, n])).digest() }
    expect(c.random).toEqual(Buffer.concat([block(0), block(1)]).subarray(0, 40))
  })

  it('answers a clock wait in poll_oneoff at once in the deterministic profile (no real time passes that no receipt accounts for)', async () => {
    // One relative CLOCK_MONOTONIC subscription of 10 minutes, far past the job's 20 s wall-time
    // limit: a real sleep would end the job `timeout`; the virtual clock fires it at once.
    const sleeper = wat(`(module (import ${W} "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store8 (i32.const 8) (i32.const 0))
        (i32.store (i32.const 16) (i32.const 1))
        (i64.store (i32.const 24) (i64.const 600000000000))
        (if (call $poll (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 512)) (then unreachable))
        (if (i32.ne (i32.load (i32.const 512)) (i32.const 1)) (then unreachable))))`)
    const r = await runtime.run(job(sleeper, { profile: 'deterministic' }))
    expect(r).toMatchObject({ status: 'ok', exitCode: 0 })
  })

  it('gives another job id another random stream', async () => {
    const a = clocks((await runtime.run(job(CLOCKS, { profile: 'deterministic' }))).stdout)
    const b = clocks((await runtime.run(job(CLOCKS, { profile: 'deterministic', jobId: 'sha256:' + '2'.repeat(64) }))).stdout)
    expect(a.random).not.toEqual(b.random)
  })

  it('meters a deterministic job that names no fuel with the node\'s cap', async () => {
    expect(await runtime.run(job(SPIN, { profile: 'deterministic' }))).toMatchObject({ status: 'fuel_exhausted', fuelUsed: CAP })
  })

  it('keeps the real, coarse clock in the default profile', async () => {
    const c = clocks((await runtime.run(job(CLOCKS))).stdout)
    expect(c.resolution).toBe(100_000n)
    expect(c.realtime).toBeGreaterThan(1_600_000_000n * 1_000_000_000n)
  })

  it('makes every NaN whose bits the guest can see the canonical one in the deterministic profile', async () => {
    // 0/0 as f32 and f64 seen through reinterpret (x86-64 makes the negative 0xffc00000 there,
    // arm64 the positive 0x7fc00000), and negated NaNs seen through stores.
    const nans = wat(`(module
      (import ${W} "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 100) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
        (i64.store (i32.const 104) (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
        (f32.store (i32.const 112) (f32.neg (f32.sqrt (f32.const -1))))
        (f64.store (i32.const 116) (f64.neg (f64.sqrt (f64.const -1))))
        (f32.store (i32.const 124) (f32.const 1.5))
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 28))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`)
    const out = Buffer.from((await runtime.run(job(nans, { profile: 'deterministic' }))).stdout)
    expect(out.readUInt32LE(0)).toBe(0x7fc00000)
    expect(out.readBigUInt64LE(4)).toBe(0x7ff8000000000000n)
    expect(out.readUInt32LE(12)).toBe(0x7fc00000)
    expect(out.readBigUInt64LE(16)).toBe(0x7ff8000000000000n)
    expect(out.readFloatLE(24)).toBe(1.5)
  })

  it('refuses SIMD float arithmetic (NaN bits differ between CPUs) in the deterministic profile only', async () => {
    // v128.const ×2; f32x4.add (0xfd 0xe4 0x01); drop
    const v128 = [0xfd, 0x0c, ...new Array(16).fill(0)]
    const simd = wasm(
      section(1, vec([[0x60, 0, 0]])),
      section(3, vec([[0]])),
      section(5, vec([[0, 1]])),
      exportMemoryAndStart(0),
      section(10, vec([body([], [...v128, ...v128, 0xfd, 0xe4, 0x01, 0x1a])]))
    )
    expect(await runtime.run(job(simd))).toMatchObject({ status: 'ok' })
    await expect(runtime.run(job(simd, { profile: 'deterministic' }))).rejects.toMatchObject({ code: 'invalid_module', message: expect.stringContaining('SIMD float') })
  })

  it('canonicalizes a scalar NaN put into a v128 (splat), whose lanes the guest reads as integers', async () => {
    // f32.div 0 0; f32x4.splat; i32x4.extract_lane 0 → stored and printed.
    const splat = wasm(
      section(1, vec([[0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f], [0x60, 0, 0]])),
      section(2, vec([[...name('wasi_snapshot_preview1'), ...name('fd_write'), 0x00, 0]])),
      section(3, vec([[1]])),
      section(5, vec([[0, 1]])),
      section(7, vec([[...name('memory'), 2, 0], [...name('_start'), 0, 1]])),
      section(10, vec([body([], [
        0x41, ...s32(100), 0x43, 0, 0, 0, 0, 0x43, 0, 0, 0, 0, 0x95, 0xfd, 0x13, 0xfd, 0x1b, 0, 0x36, 2, 0, // i32.store 100 (extract_lane 0 (splat (0/0)))
        0x41, 0, 0x41, ...s32(100), 0x36, 2, 0, 0x41, 4, 0x41, 4, 0x36, 2, 0, // iovec {100, 4} at 0
        0x41, 1, 0x41, 0, 0x41, 1, 0x41, 8, 0x10, 0, 0x1a // fd_write(1, 0, 1, 8)
      ])]))
    )
    const r = await runtime.run(job(splat, { profile: 'deterministic' }))
    expect(r).toMatchObject({ status: 'ok', detail: '' })
    expect(Buffer.from(r.stdout).readUInt32LE(0)).toBe(0x7fc00000)
  })

  it('refuses relaxed SIMD (results differ between CPUs) in the deterministic profile only', async () => {
    // v128.const ×2; i8x16.relaxed_swizzle (0xfd 0x100); drop
    const v128 = [0xfd, 0x0c, ...new Array(16).fill(0)]
    const relaxed = wasm(
      section(1, vec([[0x60, 0, 0]])),
      section(3, vec([[0]])),
      section(5, vec([[0, 1]])),
      exportMemoryAndStart(0),
      section(10, vec([body([], [...v128, ...v128, 0xfd, 0x80, 0x02, 0x1a])]))
    )
    expect(await runtime.run(job(relaxed))).toMatchObject({ status: 'ok' })
    await expect(runtime.run(job(relaxed, { profile: 'deterministic' }))).rejects.toMatchObject({ code: 'invalid_module', message: expect.stringContaining('relaxed SIMD') })
  })
})

describe('compiled module cache', () => {
  it('evicts the least recently used modules past its byte bound, keeping the newest', async () => {
    // Room for two small modules (rewritten, under 600 bytes together) at their estimated cost; hello is 812 bytes before rewriting.
    const runtime = createV8Runtime({ workers: 1, moduleCacheBytes: 2 * compiledCost(new Uint8Array(300)) })
    await runtime.start()
    try {
      await runtime.run(job(SPIN, {}, 10n))
      await runtime.run(job(COUNTER))
      expect(runtime.hasModule(contentHash(SPIN))).toBe(true)
      // hello rewritten (~1.8 KB) and either of them are over the bound: the other two go, it stays.
      await runtime.run(job(HELLO))
      expect(runtime.hasModule(contentHash(SPIN))).toBe(false)
      expect(runtime.hasModule(contentHash(COUNTER))).toBe(false)
      expect(runtime.hasModule(contentHash(HELLO))).toBe(true)
      expect(runtime.status().cachedModules).toBe(1)
    } finally {
      await runtime.stop()
    }
  })
})

describe('executor service: fuel and profile', () => {
  it('maps Limits.fuel, profile and fuel_used, treats fuel 0 as unmetered, and refuses an unknown profile', async () => {
    const runtime = createV8Runtime({ workers: 1 })
    await runtime.start()
    const service = createExecutorService({ runtime, logger: silentLogger() })
    const ctx = { signal: new AbortController().signal } as Parameters<typeof service.execute>[1]
    const request = (fuel: bigint, profile: string): Parameters<typeof service.execute>[0] => ({
      jobId: 'sha256:' + '3'.repeat(64), moduleHash: contentHash(COUNTER), module: COUNTER, args: [], env: {}, stdin: new Uint8Array(), inputs: [], profile,
      limits: { memoryBytes: BigInt(16 * MiB), timeoutMs: 10_000, outputBytes: BigInt(MiB), fuel }
    }) as unknown as Parameters<typeof service.execute>[0]
    try {
      expect(await service.execute(request(1000n, ''), ctx)).toMatchObject({ status: 'ok', fuelUsed: 803n })
      expect(await service.execute(request(0n, 'default'), ctx)).toMatchObject({ status: 'ok', fuelUsed: 0n })
      expect(await service.execute(request(0n, 'deterministic'), ctx)).toMatchObject({ status: 'ok', fuelUsed: 803n })
      await expect(service.execute(request(1000n, 'fast'), ctx)).rejects.toMatchObject({ code: 'invalid_argument' })
    } finally {
      await runtime.stop()
    }
  })
})
