/**
 * The module store: bytes by hash in a bounded memory LRU over a folder that survives restarts.
 */
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import { mkdtemp, rm, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ModuleStore } from '../../services/discovery/src/module-store.ts'
import { ReplayGuard } from '../../services/discovery/src/replay-guard.ts'
import { contentHash } from '../../services/core/src/hash-node.ts'
import { silentLogger } from '../../services/core/src/logger.ts'

const logger = silentLogger()
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

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
    const a = bytes(10, 7)
    await store.put(contentHash(a), a)
    expect(await store.get(contentHash(a))).toEqual(a)
    expect(await readdir(dir)).toEqual(['modules'])
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
