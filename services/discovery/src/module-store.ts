/**
 * Content by hash: a bounded in-memory LRU in front of a bounded folder on disk, so a client
 * sends a module (or an input file) once and afterwards only its hash, also across restarts.
 * Bytes are stored only after their hash was checked (by the caller) and, for modules, they
 * validated as WebAssembly (here), so neither a client nor a peer can fill the cache with junk.
 * Both levels are bounded by bytes; the least recently used entry goes first. `ModuleStore`
 * holds modules; `InputStore` holds job input files under a budget of its own (a stream of big
 * input files must not push every module out, nor the other way round).
 */
import { mkdir, readdir, readFile, rename, stat, writeFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { InvalidModuleError, configDefault } from '@phase-network/protocol'
import { EventLog, type Logger } from '@phase-network/process'

/** Module bytes kept in memory (module_cache.memory_bytes). */
export const DEFAULT_MEMORY_BYTES = configDefault('module_cache.memory_bytes')
/** Module bytes kept on disk (module_cache.disk_bytes). */
export const DEFAULT_DISK_BYTES = configDefault('module_cache.disk_bytes')

export interface ModuleStoreInit {
  /** Folder for the files; none keeps them in memory only. */
  dir?: string
  /** Bytes kept in memory. Default: 64 MiB. */
  memoryBytes?: number
  /** Bytes kept on disk. Default: 1 GiB. */
  diskBytes?: number
}

const HASH = /^sha256:([0-9a-f]{64})$/

/** What differs between the stores: the file suffix, and the check bytes pass before they are kept. */
interface ContentKind {
  /** File name suffix on disk, e.g. `.wasm`. */
  suffix: string
  /** Throws (a PhaseError) when `bytes` may not be stored. */
  check: (bytes: Uint8Array) => void
  /** Name used in log lines. */
  what: string
}

const MODULE_KIND: ContentKind = {
  suffix: '.wasm',
  what: 'module',
  check: (bytes) => {
    if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) throw new InvalidModuleError('module is not valid WebAssembly')
  }
}

const INPUT_KIND: ContentKind = { suffix: '.bin', what: 'input file', check: () => {} }

class ContentStore {
  private readonly memory = new Map<string, Uint8Array>()
  /** Files on disk and their sizes, least recently used first. */
  private readonly onDisk = new Map<string, number>()
  private readonly dir: string | undefined
  private readonly maxBytes: number
  private readonly maxDiskBytes: number
  private bytes = 0
  private diskBytesUsed = 0
  private readonly log: Logger
  /** Failed writes, a line per period: while the disk fails, every new module or blob would log one. */
  private readonly persistFailures: EventLog
  /** Puts under way (close waits for them, so a failure among them is logged). */
  private readonly writing = new Set<Promise<void>>()
  private readonly kind: ContentKind
  private readonly fileName: RegExp

  constructor (components: { logger: Logger }, init: ModuleStoreInit, kind: ContentKind) {
    this.kind = kind
    this.fileName = new RegExp(`^([0-9a-f]{64})${kind.suffix.replace('.', '\\.')}$`)
    this.dir = init.dir
    this.maxBytes = init.memoryBytes ?? DEFAULT_MEMORY_BYTES
    this.maxDiskBytes = init.diskBytes ?? DEFAULT_DISK_BYTES
    this.log = components.logger
    this.persistFailures = new EventLog(this.log, 'warn', `could not persist ${kind.what}`)
  }

  /** Indexes the folder (hash names and sizes, oldest first; bytes are read on demand). */
  async start (): Promise<void> {
    if (this.dir === undefined) return
    await mkdir(this.dir, { recursive: true, mode: 0o750 })
    const found: Array<{ hash: string, size: number, mtime: number }> = []
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name)
      // A write cut short by a crash leaves its temporary file: it counts against no bound, so go.
      if (name.endsWith('.tmp')) { await unlink(path).catch(() => {}); continue }
      const m = this.fileName.exec(name)
      if (m == null) continue
      const s = await stat(path).catch(() => undefined)
      if (s !== undefined) found.push({ hash: `sha256:${m[1]}`, size: s.size, mtime: s.mtimeMs })
    }
    found.sort((a, b) => a.mtime - b.mtime)
    for (const f of found) this.indexFile(f.hash, f.size)
    await this.trimDisk()
  }

  has (hash: string): boolean {
    return this.memory.has(hash) || this.onDisk.has(hash)
  }

  /** Size in bytes of a stored entry (without reading it), or undefined when unknown. */
  sizeOf (hash: string): number | undefined {
    return this.memory.get(hash)?.byteLength ?? this.onDisk.get(hash)
  }

  /** The entry's bytes, or undefined when unknown. */
  async get (hash: string): Promise<Uint8Array | undefined> {
    const size = this.onDisk.get(hash)
    if (size !== undefined) this.indexFile(hash, size) // refresh its LRU position on disk
    const hit = this.memory.get(hash)
    if (hit !== undefined) {
      this.memory.delete(hash)
      this.memory.set(hash, hit) // refresh LRU position
      return hit
    }
    if (size === undefined || this.dir === undefined) return undefined
    const m = HASH.exec(hash)
    if (m == null) return undefined
    try {
      const bytes = new Uint8Array(await readFile(join(this.dir, `${m[1]}${this.kind.suffix}`)))
      this.remember(hash, bytes)
      return bytes
    } catch (err) {
      this.forgetFile(hash)
      this.log.warn({ hash, err: (err as Error).message }, `${this.kind.what} file unreadable, forgotten`)
      return undefined
    }
  }

  /**
   * Stores bytes whose hash the caller has verified. Throws (and stores nothing) when they fail
   * the store's check: InvalidModuleError for a module that is not valid WebAssembly.
   */
  async put (hash: string, bytes: Uint8Array): Promise<void> {
    const writing = this.store(hash, bytes)
    this.writing.add(writing)
    try {
      await writing
    } finally {
      this.writing.delete(writing)
    }
  }

  private async store (hash: string, bytes: Uint8Array): Promise<void> {
    if (this.has(hash)) return
    this.kind.check(bytes)
    bytes = this.remember(hash, bytes)
    const m = HASH.exec(hash)
    if (this.dir === undefined || m == null || bytes.byteLength > this.maxDiskBytes) return
    const path = join(this.dir, `${m[1]}${this.kind.suffix}`)
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
    try {
      await writeFile(tmp, bytes, { mode: 0o640 })
      await rename(tmp, path)
      this.indexFile(hash, bytes.byteLength)
      await this.trimDisk()
    } catch (err) {
      await unlink(tmp).catch(() => {})
      // A full disk costs the cache, not the job.
      this.persistFailures.note({ hash, err: (err as Error).message })
    }
  }

  /** Entries in memory. */
  get size (): number { return this.memory.size }

  /**
   * Waits for the writes under way, then writes the failed-write counts not yet logged (the
   * store keeps serving what it holds).
   */
  async close (): Promise<void> {
    await Promise.allSettled([...this.writing])
    this.persistFailures.close()
  }

  /** Bytes held in memory and on disk. */
  usage (): { memoryBytes: number, diskBytes: number, onDisk: number } {
    return { memoryBytes: this.bytes, diskBytes: this.diskBytesUsed, onDisk: this.onDisk.size }
  }

  /** Keeps `bytes` in memory (an exact copy when it is a view into a larger buffer). */
  private remember (hash: string, bytes: Uint8Array): Uint8Array {
    // A view (a gRPC message, a pooled Buffer) would keep its whole backing buffer alive,
    // uncounted: keep exactly the module's bytes. A copy by the typed-array constructor: a
    // Buffer's slice() is a view (each cached module pinned a 64 KiB chunk of gRPC's).
    if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== bytes.byteLength) bytes = new Uint8Array(bytes)
    if (bytes.byteLength > this.maxBytes) return bytes
    this.memory.set(hash, bytes)
    this.bytes += bytes.byteLength
    for (const [oldest, old] of this.memory) {
      if (this.bytes <= this.maxBytes) break
      this.memory.delete(oldest)
      this.bytes -= old.byteLength
    }
    return bytes
  }

  private indexFile (hash: string, size: number): void {
    this.forgetFile(hash)
    this.onDisk.set(hash, size)
    this.diskBytesUsed += size
  }

  private forgetFile (hash: string): void {
    const size = this.onDisk.get(hash)
    if (size === undefined) return
    this.onDisk.delete(hash)
    this.diskBytesUsed -= size
  }

  /** Deletes the least recently used files until the folder is within its bound. */
  private async trimDisk (): Promise<void> {
    if (this.dir === undefined) return
    for (const [oldest] of this.onDisk) {
      if (this.diskBytesUsed <= this.maxDiskBytes) break
      this.forgetFile(oldest)
      const m = HASH.exec(oldest)
      if (m != null) await unlink(join(this.dir, `${m[1]}${this.kind.suffix}`)).catch(() => {})
    }
  }
}

/** WebAssembly modules by hash (validated before they are stored). */
export class ModuleStore extends ContentStore {
  constructor (components: { logger: Logger }, init: ModuleStoreInit = {}) {
    super(components, init, MODULE_KIND)
  }
}

/** Job input files by hash: any bytes, kept once their hash was checked by the caller. */
export class InputStore extends ContentStore {
  constructor (components: { logger: Logger }, init: ModuleStoreInit = {}) {
    super(components, init, INPUT_KIND)
  }
}
