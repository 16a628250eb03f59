/**
 * The input store: job input files by hash, any bytes (no WebAssembly check), under a byte
 * budget of its own in memory and on disk, kept across restarts.
 */
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import { mkdtemp, rm, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { InputStore } from '../../services/discovery/src/module-store.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

const logger = silentLogger()

describe('InputStore', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-inputs-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keeps any bytes across a restart, with their size known before they are read', async () => {
    const a = randomBytes(1000)
    const first = new InputStore({ logger }, { dir })
    await first.start()
    await first.put(contentHash(a), a)
    const second = new InputStore({ logger }, { dir })
    await second.start()
    expect(second.sizeOf(contentHash(a))).toBe(1000)
    expect(Buffer.from((await second.get(contentHash(a)))!)).toEqual(a)
    expect(await readdir(dir)).toEqual([`${contentHash(a).slice(7)}.bin`])
  })

  it('stays within its disk budget, the least recently used file going first', async () => {
    const store = new InputStore({ logger }, { dir, memoryBytes: 0, diskBytes: 2500 })
    await store.start()
    const files = [randomBytes(1000), randomBytes(1000), randomBytes(1000)]
    for (const f of files) await store.put(contentHash(f), f)
    expect(store.usage().diskBytes).toBeLessThanOrEqual(2500)
    expect(store.has(contentHash(files[0]!))).toBe(false)
    expect(store.has(contentHash(files[2]!))).toBe(true)
    expect((await readdir(dir)).length).toBe(2)
  })

  it('stays within its memory budget', async () => {
    const store = new InputStore({ logger }, { memoryBytes: 1500 })
    for (let i = 0; i < 5; i++) { const f = randomBytes(1000); await store.put(contentHash(f), f) }
    expect(store.usage().memoryBytes).toBeLessThanOrEqual(1500)
  })
})
