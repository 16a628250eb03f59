/**
 * ModuleCache builds (admit, rewrite in slices, compile): a module asked for by several jobs at
 * once is built once, and they all get it (one without its bytes too), also after another job's
 * wrong bytes failed a build; big modules are built one at a time; a job that gives up stops
 * waiting at once, and a big build no job waits for when its turn comes is not made.
 */
import { describe, it, expect } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ModuleCache } from '../../services/executor/src/pool/module-cache.ts'
import { REWRITE_SLICE_BYTES } from '../../services/executor/src/rewrite/rewrite.ts'
import type { WasmJob } from '../../services/executor/src/runtime.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { bigModule } from '../helpers/big-module.ts'
import { ROOT } from '../helpers/node-harness.ts'

const MiB = 1024 * 1024
const memoryBytes = 16 * MiB
const HELLO = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
const jobOf = (module: Uint8Array, withBytes = true): WasmJob => ({ jobId: 'j', moduleHash: contentHash(module), ...(withBytes ? { module } : {}), args: [], env: {}, stdin: new Uint8Array(0), limits: { memoryBytes, timeoutMs: 1000, outputBytes: 1024 } })
const newCache = (): ModuleCache => new ModuleCache({ maxModuleBytes: 64 * MiB, moduleCacheSize: 16, moduleCacheBytes: 512 * MiB })

describe('ModuleCache builds', () => {
  it('builds a module asked for by several jobs at once one time, for all of them', async () => {
    for (const module of [HELLO, bigModule(2 * REWRITE_SLICE_BYTES)]) {
      const cache = newCache()
      const [a, b, c] = await Promise.all([
        cache.compiled(jobOf(module), memoryBytes, 'metered'),
        cache.compiled(jobOf(module), memoryBytes, 'metered'),
        // Without its bytes: it waits for the build under way instead of being asked for them.
        cache.compiled(jobOf(module, false), memoryBytes, 'metered')
      ])
      expect(b).toBe(a)
      expect(c).toBe(a)
      expect(cache.size).toBe(1)
      expect(cache.heldBytes).toBe(a.bytes)
    }
  })

  it('does not let one job\'s wrong bytes fail another job building the same module', async () => {
    const cache = newCache()
    const wrong = Uint8Array.from(HELLO)
    wrong[wrong.byteLength - 1] = wrong[wrong.byteLength - 1]! ^ 1
    const results = await Promise.allSettled([
      cache.compiled({ ...jobOf(HELLO), module: wrong }, memoryBytes, 'plain'),
      cache.compiled(jobOf(HELLO), memoryBytes, 'plain')
    ])
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'hash_mismatch' } })
    expect(results[1].status).toBe('fulfilled')
  })

  it('builds big modules one at a time: a job that gives up stops waiting at once, and a build nobody waits for is not made', async () => {
    const cache = newCache()
    const first = bigModule(3 * REWRITE_SLICE_BYTES)
    const second = bigModule(2 * REWRITE_SLICE_BYTES + 1000)
    const gaveUp = new AbortController()
    let firstDone = false
    const a = cache.compiled(jobOf(first), memoryBytes, 'plain').then((c) => { firstDone = true; return c })
    const b = cache.compiled(jobOf(second), memoryBytes, 'plain', gaveUp.signal)
    // The first is being rewritten in slices; the second waits for its turn, and its job gives up.
    await new Promise((resolve) => setImmediate(resolve))
    gaveUp.abort()
    await expect(b).rejects.toMatchObject({ code: 'cancelled' })
    expect(firstDone).toBe(false)
    await a
    // A third big build queued after the second: once it is done, the lane has passed the
    // second, which nobody waited for any more: not built.
    const third = bigModule(2 * REWRITE_SLICE_BYTES + 3000)
    await cache.compiled(jobOf(third), memoryBytes, 'plain')
    expect(cache.has(contentHash(second))).toBe(false)
    expect(cache.size).toBe(2)
    await cache.compiled(jobOf(second), memoryBytes, 'plain')
    expect(cache.has(contentHash(second))).toBe(true)
  })

  it('builds a big module that one waiting job gave up on for the others still waiting', async () => {
    const cache = newCache()
    const first = bigModule(3 * REWRITE_SLICE_BYTES)
    const second = bigModule(2 * REWRITE_SLICE_BYTES + 2000)
    const gaveUp = new AbortController()
    const a = cache.compiled(jobOf(first), memoryBytes, 'plain')
    const b = cache.compiled(jobOf(second), memoryBytes, 'plain', gaveUp.signal)
    const c = cache.compiled(jobOf(second, false), memoryBytes, 'plain')
    await new Promise((resolve) => setImmediate(resolve))
    gaveUp.abort()
    await expect(b).rejects.toMatchObject({ code: 'cancelled' })
    await a
    expect((await c).memoryBytes).toBe(memoryBytes)
    expect(cache.size).toBe(2)
  })

  it("has the jobs still waiting after another job's wrong bytes share one build from theirs", async () => {
    const cache = newCache()
    const module = bigModule(2 * REWRITE_SLICE_BYTES + 3000)
    const wrong = Uint8Array.from(module)
    wrong[wrong.byteLength - 1] = 0
    const [bad, x, y] = await Promise.allSettled([
      cache.compiled({ ...jobOf(module), module: wrong }, memoryBytes, 'plain'),
      cache.compiled(jobOf(module), memoryBytes, 'plain'),
      cache.compiled(jobOf(module), memoryBytes, 'plain')
    ])
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'hash_mismatch' } })
    expect(x.status === 'fulfilled' && y.status === 'fulfilled' && x.value === y.value).toBe(true)
  })

  it('builds one module for two memory caps at once as two builds, each for its cap', async () => {
    const cache = newCache()
    const [small, large] = await Promise.all([
      cache.compiled(jobOf(HELLO), memoryBytes, 'plain'),
      cache.compiled(jobOf(HELLO), 2 * memoryBytes, 'plain')
    ])
    expect(small.memoryBytes).toBe(memoryBytes)
    expect(large.memoryBytes).toBe(2 * memoryBytes)
  })
})
