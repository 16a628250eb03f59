/**
 * The module store: bytes by hash in a bounded memory LRU over a folder that survives restarts.
 */
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import { mkdtemp, rm, readdir, writeFile } from 'node:fs/promises'
import { captureLog } from '../helpers/log-capture.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ModuleStore } from '../../services/discovery/src/module-store.ts'
import { startStores } from '../../services/discovery/src/compose/stores.ts'
import { ReplayGuard } from '../../services/discovery/src/replay-guard.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

const logger = silentLogger()
const MiB = 1024 * 1024
/** A valid WebAssembly module of exactly `n` bytes (n ≥ 16): the header and one custom section. */
const bytes = (n: number, fill: number): Uint8Array => {
  const out = new Uint8Array(n).fill(fill)
  out.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0])
  // Section size as a 5-byte LEB128 (so the layout does not depend on n), then a 1-byte name.
  const size = n - 14
  out.set([(size & 0x7f) | 0x80, ((size >> 7) & 0x7f) | 0x80, ((size >> 14) & 0x7f) | 0x80, ((size >> 21) & 0x7f) | 0x80, (size >> 28) & 0x0f, 1, 0x78], 9)
  return out
}

describe('ModuleStore', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-modules-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keeps modules across a restart', async () => {
    const a = bytes(100, 1)
    const first = new ModuleStore({ logger }, { dir })
    await first.start()
    await first.put(contentHash(a), a)
    const second = new ModuleStore({ logger }, { dir })
    await second.start()
    expect(second.has(contentHash(a))).toBe(true)
    expect(await second.get(contentHash(a))).toEqual(a)
    expect(await readdir(dir)).toEqual([`${contentHash(a).slice(7)}.wasm`])
  })

  it('bounds memory by bytes, oldest first, and reads evicted modules back from disk', async () => {
    const store = new ModuleStore({ logger }, { dir, memoryBytes: 250 })
    await store.start()
    const mods = [1, 2, 3].map((i) => bytes(100, i))
    for (const m of mods) await store.put(contentHash(m), m)
    expect(store.size).toBe(2)
    expect(await store.get(contentHash(mods[0]!))).toEqual(mods[0])
  })

  it('keeps serving from memory when the disk refuses writes', async () => {
    const modules = join(dir, 'modules')
    const store = new ModuleStore({ logger }, { dir: modules })
    await store.start()
    // The folder disappears and a file takes its place: every write now fails (even as root).
    await rm(modules, { recursive: true })
    await writeFile(modules, 'not a folder')
    const a = bytes(16, 7)
    await store.put(contentHash(a), a)
    expect(await store.get(contentHash(a))).toEqual(a)
    expect(await readdir(dir)).toEqual(['modules'])
  })

  it('logs failed writes a line per period, and what is pending when it closes', async () => {
    const { logger: captured, lines } = captureLog('info')
    const modules = join(dir, 'modules')
    const store = new ModuleStore({ logger: captured }, { dir: modules })
    await store.start()
    await rm(modules, { recursive: true })
    await writeFile(modules, 'not a folder')
    for (let i = 0; i < 5; i++) { const m = bytes(16 + i, i); await store.put(contentHash(m), m) }
    await new Promise((resolve) => setTimeout(resolve, 10))
    // The first at once; the other four wait for the period (10 s) or the close.
    expect(lines.map((l) => [l.msg, l.count])).toEqual([['could not persist module', 1]])
    await store.close()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(lines.map((l) => [l.msg, l.count])).toEqual([['could not persist module', 1], ['could not persist module', 4]])
  })

  it("is stopped with discovery's other parts: stop waits for a write under way and logs its failure", async () => {
    const { logger: captured, lines } = captureLog('info')
    const stores = await startStores({ logger: captured }, { stateDir: dir, moduleCache: { memoryBytes: MiB, diskBytes: MiB, compiledBytes: MiB }, inputCache: { memoryBytes: MiB, diskBytes: MiB } })
    await rm(join(dir, 'modules'), { recursive: true })
    await writeFile(join(dir, 'modules'), 'not a folder')
    const first = bytes(16, 1)
    await stores.modules.put(contentHash(first), first)
    // Not awaited: stop comes while it is under way.
    const second = bytes(17, 2)
    const writing = stores.modules.put(contentHash(second), second)
    await stores.stop()
    await writing
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(lines.filter((l) => l.msg === 'could not persist module').map((l) => l.count)).toEqual([1, 1])
  })

  it('refuses bytes that are not WebAssembly and stores nothing when their hash matches', async () => {
    const store = new ModuleStore({ logger }, { dir })
    await store.start()
    const junk = new TextEncoder().encode('not wasm, but its hash is right')
    const err = await store.put(contentHash(junk), junk).catch((e: unknown) => e)
    expect((err as { code: string }).code).toBe('invalid_module')
    expect(store.has(contentHash(junk))).toBe(false)
    expect(await readdir(dir)).toEqual([])
  })

  it('bounds the disk by bytes, least recently used first, when modules keep coming', async () => {
    const store = new ModuleStore({ logger }, { dir, memoryBytes: 0, diskBytes: 250 })
    await store.start()
    const mods = [1, 2, 3, 4].map((i) => bytes(100, i))
    await store.put(contentHash(mods[0]!), mods[0]!)
    await store.put(contentHash(mods[1]!), mods[1]!)
    expect(await store.get(contentHash(mods[0]!))).toEqual(mods[0]) // now the most recent
    await store.put(contentHash(mods[2]!), mods[2]!)
    expect((await readdir(dir)).sort()).toEqual([mods[0]!, mods[2]!].map((m) => `${contentHash(m).slice(7)}.wasm`).sort())
    expect(store.has(contentHash(mods[1]!))).toBe(false)
    expect(store.usage().diskBytes).toBe(200)
    // A restart with a smaller bound trims the folder, oldest files first, and drops temp files.
    await writeFile(join(dir, `${'a'.repeat(64)}.wasm.1234.tmp`), 'half written')
    const smaller = new ModuleStore({ logger }, { dir, diskBytes: 150 })
    await smaller.start()
    expect(await readdir(dir)).toHaveLength(1)
    expect(smaller.usage().diskBytes).toBe(100)
  })

  it('keeps an exact copy of bytes that are a view into a larger buffer', async () => {
    const store = new ModuleStore({ logger }, { memoryBytes: 1000 })
    const big = new Uint8Array(1 << 20)
    const m = bytes(100, 9)
    big.set(m, 4096)
    await store.put(contentHash(m), big.subarray(4096, 4196))
    const kept = (await store.get(contentHash(m)))!
    expect(kept).toEqual(m)
    // Held bytes are what the bound counts: not the 1 MiB buffer the view pointed into.
    expect(kept.buffer.byteLength).toBe(100)
  })

  it('keeps an exact copy of a Buffer view too (Buffer#slice is a view, not a copy)', async () => {
    // What gRPC hands over: a Buffer into a larger chunk. Before, slice() kept the view, and
    // each cached hello module pinned a 64 KiB chunk (10.9 MB held for 0.85 MB counted).
    const store = new ModuleStore({ logger }, { memoryBytes: 1000 })
    const chunk = Buffer.alloc(65536)
    const m = bytes(100, 7)
    chunk.set(m, 512)
    await store.put(contentHash(m), chunk.subarray(512, 612))
    const kept = (await store.get(contentHash(m)))!
    expect(Buffer.from(kept).equals(Buffer.from(m))).toBe(true)
    expect(kept.buffer.byteLength).toBe(100)
    expect(kept.buffer).not.toBe(chunk.buffer)
  })

  it('answers undefined for an unknown hash', async () => {
    const store = new ModuleStore({ logger }, { dir })
    await store.start()
    expect(await store.get('sha256:' + '0'.repeat(64))).toBeUndefined()
  })
})

describe('ReplayGuard', () => {
  it('accepts an id once, forgets released ids, and stays bounded', () => {
    const guard = new ReplayGuard(2)
    expect(guard.claim('a')).toBe(true)
    expect(guard.claim('a')).toBe(false)
    guard.release('a')
    expect(guard.claim('a')).toBe(true)
    expect(guard.claim('b')).toBe(true)
    expect(guard.claim('c')).toBe(true)
    // 'a' is the oldest and was forgotten to keep the window at 2.
    expect(guard.claim('a')).toBe(true)
    expect(guard.claim('c')).toBe(false)
  })
})
