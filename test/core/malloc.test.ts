/**
 * core/malloc.ts and its addon (services/core/process/native/malloc.c, built by `npm install`):
 * memory glibc holds free after a burst goes back to the kernel on a trim. Run in a child of the
 * project's Node, as every process of the node loads it: the child frees 96 MiB of ArrayBuffer
 * backing stores (32 KiB each, so glibc's heap, not mmap) under one it keeps, so that free()
 * alone cannot give them back from the top of the heap.
 */
import { describe, it, expect } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT, NODE } from '../helpers/node-harness.ts'
import { MALLOC_ENV } from '../../ops/malloc.ts'
import type { MallocInfo } from '../../services/core/process/src/malloc.ts'

const MODULE = pathToFileURL(join(ROOT, 'services/core/process/src/malloc.ts')).href

const CHILD = `
import { loadMallocAddon, mallocAddonError, mallocInfo, releaseFreedMemory } from ${JSON.stringify(MODULE)}
import { readFileSync } from 'node:fs'
const rss = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096
const out = { loaded: loadMallocAddon(), error: mallocAddonError() }
let held = []
for (let i = 0; i < 3072; i++) held.push(new ArrayBuffer(32768))
const pin = new ArrayBuffer(32768)
out.held = rss()
held = null
globalThis.gc(); globalThis.gc()
out.freed = rss()
out.infoBefore = mallocInfo()
out.trimmed = releaseFreedMemory()
out.after = rss()
out.infoAfter = mallocInfo()
out.pin = pin.byteLength
console.log(JSON.stringify(out))
`

describe('malloc addon', () => {
  it('is built, and its trim gives memory glibc holds free back to the kernel', () => {
    const r = spawnSync(NODE, ['--expose-gc', '--input-type=module', '-e', CHILD], { encoding: 'utf8', env: { ...process.env, ...MALLOC_ENV }, timeout: 60_000 })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout) as { loaded: boolean, error?: string, held: number, freed: number, trimmed: boolean, after: number, infoBefore: MallocInfo, infoAfter: MallocInfo }
    expect({ loaded: out.loaded, error: out.error }).toEqual({ loaded: true, error: undefined })
    const MiB = 2 ** 20
    // Freed but kept: glibc holds the 96 MiB as free chunks and RSS hardly moves.
    expect(out.infoBefore.freeBytes).toBeGreaterThan(80 * MiB)
    expect(out.held - out.freed).toBeLessThan(16 * MiB)
    // The trim returns them: RSS falls by most of it.
    expect(out.trimmed).toBe(true)
    expect(out.freed - out.after).toBeGreaterThan(64 * MiB)
    // glibc's own account is consistent: what it obtained covers what is in use and free.
    for (const info of [out.infoBefore, out.infoAfter]) {
      expect(info.heapBytes).toBeGreaterThanOrEqual(info.inUseBytes)
      expect(info.inUseBytes + info.freeBytes).toBe(info.heapBytes)
    }
  })

  it('without the addon, trim and info answer undefined and the reason is kept', () => {
    // The module loaded from a copy of itself whose addon path does not exist.
    const child = `
      import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
      import { join } from 'node:path'
      import { tmpdir } from 'node:os'
      const src = readFileSync(${JSON.stringify(join(ROOT, 'services/core/process/src/malloc.ts'))}, 'utf8')
      const dir = mkdtempSync(join(tmpdir(), 'phase-malloc-'))
      writeFileSync(join(dir, 'malloc.ts'), src)
      const m = await import(join(dir, 'malloc.ts'))
      rmSync(dir, { recursive: true })
      console.log(JSON.stringify({ loaded: m.loadMallocAddon(), trim: m.releaseFreedMemory() ?? null, info: m.mallocInfo() ?? null, error: m.mallocAddonError() }))
    `
    const r = spawnSync(NODE, ['--input-type=module', '-e', child], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout) as { loaded: boolean, trim: null, info: null, error: string }
    expect(out).toEqual({ loaded: false, trim: null, info: null, error: expect.stringContaining('phase_malloc.node') })
  })
})
