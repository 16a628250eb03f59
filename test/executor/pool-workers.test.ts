/**
 * The V8 runtime's slots with real worker threads that fail: start() fails with a typed error
 * instead of waiting forever, a worker that keeps dying is respawned after a growing, capped
 * delay and reported, and the job it held ends with a trap. Worker scripts in ./workers/.
 */
import { describe, it, expect } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createV8Runtime, type WasmJob } from '../../services/executor/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { ROOT } from '../helpers/node-harness.ts'

const HELLO = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const MiB = 1024 * 1024
const script = (name: string): URL => new URL(`./workers/${name}.ts`, import.meta.url)

function job (extra: Partial<WasmJob> = {}): WasmJob {
  return {
    jobId: 'sha256:' + '0'.repeat(64),
    moduleHash: contentHash(HELLO),
    module: HELLO,
    args: ['x'],
    env: {},
    stdin: new Uint8Array(),
    limits: { memoryBytes: 16 * MiB, timeoutMs: 30_000, outputBytes: MiB },
    ...extra
  }
}

/** A logger that keeps what it is given and tells a waiter once it holds `n` warnings. */
function recorder () {
  const warns: Array<Record<string, unknown>> = []
  const errors: Array<Record<string, unknown>> = []
  let waiter: { n: number, resolve: () => void } | undefined
  const logger = {
    warn: ((o: Record<string, unknown>) => {
      warns.push(o)
      if (waiter !== undefined && warns.length >= waiter.n) waiter.resolve()
    }) as never,
    error: ((o: Record<string, unknown>) => { errors.push(o) }) as never
  }
  const warnings = async (n: number): Promise<void> => {
    if (warns.length >= n) return
    await new Promise<void>((resolve) => { waiter = { n, resolve } })
  }
  return { logger, warns, errors, warnings }
}

describe('V8 runtime with failing workers', () => {
  // A worker boots in well under a second; the machine is shared, so the deadlines are generous.
  it.each([
    ['throws at load', 'throws-at-load', 30_000, 'died', /worker crashed: broken worker script/],
    ['exits at load', 'exits-at-load', 30_000, 'died', /worker exited with code 3/],
    ['never says ready', 'never-ready', 3000, 'timeout', /not ready within 3000 ms/]
  ])('fails start() with WorkerBootError when its worker %s, and is stopped', async (_name, file, bootTimeoutMs, reason, message) => {
    const runtime = createV8Runtime({ workers: 2, bootTimeoutMs }, { workerScript: script(file) })
    const err = await runtime.start().then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ name: 'WorkerBootError', code: 'unavailable', reason, message: expect.stringMatching(message) })
    expect(runtime.status().workers).toBe(0)
    await expect(runtime.run(job())).rejects.toMatchObject({ code: 'unavailable' })
    await runtime.stop()
  })

  it('respawns a worker that keeps dying after a doubling delay up to its cap, reports it, and ends the job it held with a trap', async () => {
    const { logger, warns, warnings } = recorder()
    const runtime = createV8Runtime({ workers: 1, respawnDelayMs: 50, maxRespawnDelayMs: 200 }, { logger, workerScript: script('dies-after-ready') })
    await runtime.start()
    try {
      const held = await runtime.run(job())
      expect(held).toMatchObject({ status: 'trap', exitCode: -1, detail: 'worker exited' })
      await warnings(5)
      expect(warns.slice(0, 5).map((w) => w.retryInMs)).toEqual([50, 100, 200, 200, 200])
      expect(warns.slice(0, 5).map((w) => w.failures)).toEqual([1, 2, 3, 4, 5])
      expect(warns.every((w) => w.slot === 0)).toBe(true)
    } finally {
      await runtime.stop()
    }
    const after = warns.length
    await new Promise((resolve) => setImmediate(resolve))
    expect(runtime.status().workers).toBe(0)
    expect(warns.length).toBe(after)
  })
})
