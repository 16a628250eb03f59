/**
 * The wasmer runtime's own machinery (the shared suites, outcomes and hostile, cover what every
 * runtime owes): runner processes that are killed and replaced — on a crash, on cancel, on stop,
 * when their memory crept up over many jobs — the module cache and its refusals, the queue bound.
 */
import { describe, it, expect, afterEach, jest } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createWasmerRuntime, type WasmJob, type WasmRuntime } from '../../services/executor/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'
import { waitFor } from '../helpers/wait-for.ts'

jest.setTimeout(120_000)
const MiB = 1024 * 1024
const HELLO = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const LOOP = new Uint8Array(await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))'))
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

function job (module: Uint8Array | undefined, hash: string, limits: Partial<WasmJob['limits']> = {}): WasmJob {
  return { jobId: 'sha256:' + '2'.repeat(64), moduleHash: hash, ...(module === undefined ? {} : { module }), args: ['abc'], env: {}, stdin: new Uint8Array(), limits: { memoryBytes: 16 * MiB, timeoutMs: 30_000, outputBytes: MiB, ...limits } }
}
const hello = (): WasmJob => job(HELLO, contentHash(HELLO))

/** The runner processes' pids (white-box: the pool keeps no public view of them). */
const pids = (rt: WasmRuntime): number[] => (rt as unknown as { runners: Array<{ child: { pid: number } }> }).runners.map((r) => r.child.pid)
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

describe('wasmer runtime', () => {
  let runtime: WasmRuntime | undefined
  afterEach(async () => { await runtime?.stop(); runtime = undefined })

  it('ends the job trap when its runner is killed from outside, and the next job runs on a fresh one', async () => {
    runtime = createWasmerRuntime({ runners: 1 })
    await runtime.start()
    const [pid] = pids(runtime)
    const running = runtime.run(job(LOOP, contentHash(LOOP)))
    await new Promise((resolve) => setTimeout(resolve, 500))
    process.kill(pid!, 'SIGKILL')
    expect(await running).toMatchObject({ status: 'trap', trap: 'other', detail: 'runtime process exited' })
    expect(text((await runtime.run(hello())).stdout)).toBe('cba\n')
    expect(pids(runtime)[0]).not.toBe(pid)
  })

  it('cancels a running job (cancelled) by killing its runner', async () => {
    runtime = createWasmerRuntime({ runners: 1 })
    await runtime.start()
    const [pid] = pids(runtime)
    const controller = new AbortController()
    const running = runtime.run(job(LOOP, contentHash(LOOP)), { signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 300))
    controller.abort()
    await expect(running).rejects.toMatchObject({ code: 'cancelled' })
    // SIGKILL is sent at once; the process is gone once its parent has reaped it.
    await waitFor(() => !alive(pid!), { what: 'the cancelled job\'s runner to be gone' })
    expect((await runtime.run(hello())).status).toBe('ok')
  })

  it('replaces a runner between jobs once its memory grew past recycleBytes, and every job still runs', async () => {
    runtime = createWasmerRuntime({ runners: 1, recycleBytes: 1 })
    await runtime.start()
    const seen = new Set<number>()
    for (let i = 0; i < 3; i++) {
      seen.add(pids(runtime)[0]!)
      expect((await runtime.run(hello())).status).toBe('ok')
    }
    expect(seen.size).toBe(3)
  })

  it('leaves no runner behind when stopped with a job running (unavailable)', async () => {
    runtime = createWasmerRuntime({ runners: 2 })
    await runtime.start()
    const before = pids(runtime)
    const running = expect(runtime.run(job(LOOP, contentHash(LOOP)))).rejects.toMatchObject({ code: 'unavailable' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    await runtime.stop()
    await running
    for (const pid of before) await waitFor(() => !alive(pid), { what: `runner ${pid} to be gone after stop()` })
  })

  it('asks for bytes it does not hold (module_not_cached), checks them (hash_mismatch), then runs by hash', async () => {
    runtime = createWasmerRuntime({ runners: 1 })
    await runtime.start()
    const hash = contentHash(HELLO)
    await expect(runtime.run(job(undefined, hash))).rejects.toMatchObject({ code: 'module_not_cached' })
    await expect(runtime.run(job(HELLO, contentHash(LOOP)))).rejects.toMatchObject({ code: 'hash_mismatch' })
    expect((await runtime.run(hello())).status).toBe('ok')
    expect(runtime.hasModule(hash)).toBe(true)
    expect((await runtime.run(job(undefined, hash))).status).toBe('ok')
    // The cap is part of the admission: another cap needs the bytes again.
    await expect(runtime.run(job(undefined, hash, { memoryBytes: 8 * MiB }))).rejects.toMatchObject({ code: 'module_not_cached' })
  })

  it('refuses a job past its queue (queue_full)', async () => {
    runtime = createWasmerRuntime({ runners: 1, queueCapacity: 1 })
    await runtime.start()
    const loop = job(LOOP, contentHash(LOOP), { timeoutMs: 1500 })
    const first = runtime.run(loop)
    const second = runtime.run(loop)
    await expect(runtime.run(loop)).rejects.toMatchObject({ code: 'queue_full' })
    expect((await first).status).toBe('timeout')
    expect((await second).status).toBe('timeout')
  })
})
