/**
 * Modules by content hash: a bounded in-memory LRU in front of a folder on disk, so a client
 * sends a module once and afterwards only its hash, also across restarts. Bytes are stored only
 * after their hash was checked, so the store cannot be poisoned.
 */
import { mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Logger } from '../../core/src/logger.ts'

export const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024

export interface ModuleStoreInit {
  /** Folder for module files; none keeps modules in memory only. */
  dir?: string
  /** Bytes kept in memory. Default: 256 MiB. */
  memoryBytes?: number
}

const HASH = /^sha256:([0-9a-f]{64})$/

export class ModuleStore {
  private readonly memory = new Map<string, Uint8Array>()
  private readonly onDisk = new Set<string>()
  private readonly dir: string | undefined
  private readonly maxBytes: number
  private bytes = 0
  private readonly log: Logger

  constructor (components: { logger: Logger }, init: ModuleStoreInit = {}) {
    this.dir = init.dir
    this.maxBytes = init.memoryBytes ?? DEFAULT_MEMORY_BYTES
    this.log = components.logger
  }

  /** Indexes the folder (hash names only; bytes are read on demand). */
  async start (): Promise<void> {
    if (this.dir === undefined) return
    await mkdir(this.dir, { recursive: true, mode: 0o750 })
    const { readdir } = await import('node:fs/promises')
    for (const name of await readdir(this.dir)) {
      const m = /^([0-9a-f]{64})\.wasm$/.exec(name)
      if (m != null) this.onDisk.add(`sha256:${m[1]}`)
    }
  }

  has (hash: string): boolean {
    return this.memory.has(hash) || this.onDisk.has(hash)
  }

  /** The module's bytes, or undefined when unknown. */
  async get (hash: string): Promise<Uint8Array | undefined> {
    const hit = this.memory.get(hash)
    if (hit !== undefined) {
      this.memory.delete(hash)
      this.memory.set(hash, hit) // refresh LRU position
      return hit
    }
    if (!this.onDisk.has(hash) || this.dir === undefined) return undefined
    const m = HASH.exec(hash)
    if (m == null) return undefined
    try {
      const bytes = new Uint8Array(await readFile(join(this.dir, `${m[1]}.wasm`)))
      this.remember(hash, bytes)
      return bytes
    } catch (err) {
      this.onDisk.delete(hash)
      this.log.warn({ hash, err: (err as Error).message }, 'module file unreadable, forgotten')
      return undefined
    }
  }

  /** Stores bytes whose hash the caller has verified. */
  async put (hash: string, bytes: Uint8Array): Promise<void> {
    if (this.has(hash)) return
    this.remember(hash, bytes)
    const m = HASH.exec(hash)
    if (this.dir === undefined || m == null) return
    const path = join(this.dir, `${m[1]}.wasm`)
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
    try {
      await writeFile(tmp, bytes, { mode: 0o640 })
      await rename(tmp, path)
      this.onDisk.add(hash)
    } catch (err) {
      await unlink(tmp).catch(() => {})
      // A full disk costs the cache, not the job.
      this.log.warn({ hash, err: (err as Error).message }, 'could not persist module')
    }
  }

  get size (): number { return this.memory.size }

  private remember (hash: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.maxBytes) return
    this.memory.set(hash, bytes)
    this.bytes += bytes.byteLength
    for (const [oldest, old] of this.memory) {
      if (this.bytes <= this.maxBytes) break
      this.memory.delete(oldest)
      this.bytes -= old.byteLength
    }
  }
}
