/**
 * The in-memory filesystem a job sees: `/in` (the job's input files, read-only, their bytes
 * shared with the job message, never copied) and `/out` (writable, held in the worker's memory,
 * returned with the result). Nothing here touches the host's filesystem.
 *
 * Every structure a guest can fill is bounded: the bytes of /out count against the job's output
 * budget together with stdout/stderr (a write past it ends the job `output_limit`), /out holds
 * at most MAX_OUTPUT_FILES files (one more ends the job `output_limit`, as the contract says) and
 * MAX_OUTPUT_DIRS directories (one more: ENOSPC), and no path under /out is longer than
 * MAX_OUTPUT_PATH chars (ENAMETOOLONG), so names cost at most files × 255 chars. A name under
 * /out is made of the characters a receipt's output path allows (isOutputName; else EILSEQ).
 */
import { EEXIST, EILSEQ, EINVAL, ENAMETOOLONG, ENOENT, ENOSPC, ENOTCAPABLE, ENOTDIR, ENOTEMPTY, EISDIR } from './constants.ts'
import { PATH_SEGMENT } from './inputs.ts'

/** Files /out may hold: the receipt lists at most 256 outputs (schemas/receipt.schema.json). */
export const MAX_OUTPUT_FILES = 256
/** Directories /out may hold (not in the contract: a bound on the map a guest fills). */
export const MAX_OUTPUT_DIRS = 1024
/** Longest guest path under /out, e.g. `/out/a/b.txt` (the contract's cap). */
export const MAX_OUTPUT_PATH = 255
/** Longest path argument a guest may pass (POSIX PATH_MAX). */
export const MAX_PATH_BYTES = 4096

export interface Times { atim: bigint, mtim: bigint, ctim: bigint }

export interface FileNode {
  kind: 'file'
  ino: bigint
  /** Bytes [0, size) are the content; the rest is spare capacity. */
  data: Uint8Array
  size: number
  readonly: boolean
  times: Times
  /** 1 while a directory lists it; 0 once unlinked (open fds may still hold it). */
  links: number
  opens: number
}

export interface DirNode {
  kind: 'dir'
  ino: bigint
  name: string
  parent: DirNode | undefined
  entries: Map<string, FsNode>
  readonly: boolean
  times: Times
  removed: boolean
}

export type FsNode = FileNode | DirNode

/** Thrown when /out passes a cap that ends the job (bytes with stdout/stderr, file count). */
export class OutputCapError extends Error {}

export interface OutputBudget {
  /** Takes `bytes` from the job's output budget; throws OutputCapError when they do not fit. */
  charge: (bytes: number) => void
  /** Gives `bytes` back (a truncated or deleted file). */
  refund: (bytes: number) => void
}

export type Errno = number
export const isErrno = (x: unknown): x is Errno => typeof x === 'number'

export interface InputFile { path: string, data: Uint8Array }

export class MemFs {
  readonly input: DirNode
  readonly output: DirNode
  private nextIno = 1n
  private files = 0
  private dirs = 0
  private readonly now: () => bigint
  private readonly budget: OutputBudget

  constructor (inputs: readonly InputFile[], budget: OutputBudget, now: () => bigint) {
    this.now = now
    this.budget = budget
    this.input = this.dir('/in', undefined, true)
    this.output = this.dir('/out', undefined, false)
    for (const f of inputs) this.addInput(f)
  }

  /** Places an input file at its path under /in, making the folders it implies. */
  private addInput (f: InputFile): void {
    const parts = f.path.split('/').filter((p) => p !== '')
    if (parts[0] !== 'in' || parts.length < 2 || parts.some((p) => p === '.' || p === '..')) throw new TypeError(`input path must be /in/<rel>: ${f.path}`)
    let dir = this.input
    for (const name of parts.slice(1, -1)) {
      const next = dir.entries.get(name) ?? this.dir(name, dir, true)
      if (next.kind !== 'dir') throw new TypeError(`input path under a file: ${f.path}`)
      dir.entries.set(name, next)
      dir = next
    }
    const name = parts[parts.length - 1]!
    if (dir.entries.has(name)) throw new TypeError(`duplicate input path: ${f.path}`)
    dir.entries.set(name, { kind: 'file', ino: this.nextIno++, data: f.data, size: f.data.byteLength, readonly: true, times: this.times(), links: 1, opens: 0 })
  }

  private times (): Times { const t = this.now(); return { atim: t, mtim: t, ctim: t } }

  private dir (name: string, parent: DirNode | undefined, readonly: boolean): DirNode {
    return { kind: 'dir', ino: this.nextIno++, name, parent, entries: new Map(), readonly, times: this.times(), removed: false }
  }

  /** The guest path of a directory, e.g. `/out/a`. */
  pathOf (dir: DirNode): string {
    const names: string[] = []
    for (let d: DirNode | undefined = dir; d !== undefined; d = d.parent) names.push(d.name)
    return names.reverse().join('/')
  }

  /**
   * Splits `path` (relative to `start`) into the directory holding its last component and that
   * component ('.' for the directory itself). `..` above a preopen's root and absolute paths
   * are ENOTCAPABLE: a guest never sees past /in or /out.
   */
  walk (start: DirNode, path: string): { dir: DirNode, last: string, trailingSlash: boolean } | Errno {
    if (path.length === 0) return ENOENT
    if (path.startsWith('/')) return ENOTCAPABLE
    if (path.includes('\0')) return EINVAL
    const parts = path.split('/').filter((p) => p !== '')
    const trailingSlash = path.endsWith('/')
    let dir = start
    for (const name of parts.slice(0, -1)) {
      const next = this.step(dir, name)
      if (isErrno(next)) return next
      if (next.kind !== 'dir') return ENOTDIR
      dir = next
    }
    return { dir, last: parts[parts.length - 1] ?? '.', trailingSlash }
  }

  /** One component from `dir`: '.', '..' (not above a preopen's root) or a name. */
  step (dir: DirNode, name: string): FsNode | Errno {
    if (name === '.') return dir
    if (name === '..') return dir.parent ?? ENOTCAPABLE
    return dir.entries.get(name) ?? ENOENT
  }

  /** The node at `path`, or an errno. */
  lookup (start: DirNode, path: string): FsNode | Errno {
    const w = this.walk(start, path)
    if (isErrno(w)) return w
    const node = this.step(w.dir, w.last)
    if (isErrno(node)) return node
    if (w.trailingSlash && node.kind !== 'dir') return ENOTDIR
    return node
  }

  /** Checks a new entry `name` in `dir` may be made (name, path length, a live folder). */
  private creatable (dir: DirNode, name: string): Errno | undefined {
    if (name === '.' || name === '..') return EEXIST
    if (dir.readonly) return ENOTCAPABLE
    if (dir.removed) return ENOENT
    if (dir.entries.has(name)) return EEXIST
    if (!isOutputName(name)) return EILSEQ
    if (this.pathOf(dir).length + 1 + name.length > MAX_OUTPUT_PATH) return ENAMETOOLONG
    return undefined
  }

  createFile (dir: DirNode, name: string): FileNode | Errno {
    const bad = this.creatable(dir, name)
    if (bad !== undefined) return bad
    if (this.files >= MAX_OUTPUT_FILES) throw new OutputCapError(`more than ${MAX_OUTPUT_FILES} output files`)
    this.files++
    const node: FileNode = { kind: 'file', ino: this.nextIno++, data: new Uint8Array(0), size: 0, readonly: false, times: this.times(), links: 1, opens: 0 }
    dir.entries.set(name, node)
    this.touch(dir)
    return node
  }

  createDir (dir: DirNode, name: string): Errno | undefined {
    const bad = this.creatable(dir, name)
    if (bad !== undefined) return bad
    if (this.dirs >= MAX_OUTPUT_DIRS) return ENOSPC
    this.dirs++
    dir.entries.set(name, this.dir(name, dir, false))
    this.touch(dir)
    return undefined
  }

  unlinkFile (dir: DirNode, name: string, trailingSlash: boolean): Errno | undefined {
    const node = this.step(dir, name)
    if (isErrno(node)) return node
    if (node.kind === 'dir') return EISDIR
    if (trailingSlash) return ENOTDIR
    if (dir.readonly) return ENOTCAPABLE
    dir.entries.delete(name)
    this.touch(dir)
    this.files--
    node.links = 0
    this.release(node)
    return undefined
  }

  removeDir (dir: DirNode, name: string): Errno | undefined {
    if (name === '.') return EINVAL
    if (name === '..') return ENOTEMPTY
    const node = this.step(dir, name)
    if (isErrno(node)) return node
    if (node.kind !== 'dir') return ENOTDIR
    if (dir.readonly) return ENOTCAPABLE
    if (node.entries.size > 0) return ENOTEMPTY
    dir.entries.delete(name)
    node.removed = true
    this.dirs--
    this.touch(dir)
    return undefined
  }

  /** rename(2) within /out: replaces a file by a file, or an empty folder by a folder. */
  rename (from: DirNode, oldName: string, to: DirNode, newName: string): Errno | undefined {
    if (oldName === '.' || oldName === '..' || newName === '.' || newName === '..') return EINVAL
    const node = this.step(from, oldName)
    if (isErrno(node)) return node
    if (from.readonly || to.readonly) return ENOTCAPABLE
    if (to.removed) return ENOENT
    if (!isOutputName(newName)) return EILSEQ
    const target = to.entries.get(newName)
    if (target === node) return undefined
    if (node.kind === 'dir') {
      for (let d: DirNode | undefined = to; d !== undefined; d = d.parent) if (d === node) return EINVAL
      if (target !== undefined && target.kind !== 'dir') return ENOTDIR
      if (target !== undefined && target.kind === 'dir' && target.entries.size > 0) return ENOTEMPTY
    } else if (target?.kind === 'dir') return EISDIR
    // Every path below the moved node must stay within the cap.
    if (this.pathOf(to).length + 1 + newName.length + deepest(node) > MAX_OUTPUT_PATH) return ENAMETOOLONG
    if (target !== undefined) {
      if (target.kind === 'dir') { target.removed = true; this.dirs-- } else { this.files--; target.links = 0; this.release(target) }
    }
    from.entries.delete(oldName)
    to.entries.set(newName, node)
    if (node.kind === 'dir') { node.name = newName; node.parent = to }
    this.touch(from)
    this.touch(to)
    return undefined
  }

  /** Sets a file's size (truncate or extend with zeros), charging the budget for growth. */
  resize (file: FileNode, size: number): void {
    if (size > file.size) this.budget.charge(size - file.size)
    else if (size < file.size) this.budget.refund(file.size - size)
    if (size > file.data.byteLength) {
      const data = new Uint8Array(Math.max(size, Math.min(file.data.byteLength * 2, size + (1 << 20))))
      data.set(file.data.subarray(0, file.size))
      file.data = data
    } else if (size < file.size) file.data.fill(0, size, file.size)
    file.size = size
  }

  /** Writes `bytes` at `offset`, growing the file (and charging the budget) as needed. */
  write (file: FileNode, offset: number, bytes: Uint8Array): void {
    if (offset + bytes.byteLength > file.size) this.resize(file, offset + bytes.byteLength)
    file.data.set(bytes, offset)
    const t = this.now()
    file.times.mtim = t
    file.times.ctim = t
  }

  /** An unlinked file's bytes go back to the budget once no fd holds it. */
  release (file: FileNode): void {
    if (file.links === 0 && file.opens === 0 && file.size > 0) {
      this.budget.refund(file.size)
      file.size = 0
      file.data = new Uint8Array(0)
    }
  }

  private touch (dir: DirNode): void { const t = this.now(); dir.times.mtim = t; dir.times.ctim = t }

  /** Regular files under /out, sorted by path (folders are implied by the paths). */
  outputs (): Array<{ path: string, data: Uint8Array }> {
    const out: Array<{ path: string, data: Uint8Array }> = []
    const visit = (dir: DirNode, prefix: string): void => {
      for (const [name, node] of dir.entries) {
        if (node.kind === 'dir') visit(node, `${prefix}/${name}`)
        else out.push({ path: `${prefix}/${name}`, data: node.data.slice(0, node.size) })
      }
    }
    visit(this.output, '/out')
    return out.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  }
}

/** Length of the longest relative path below `node` ('' for a file). */
function deepest (node: FsNode): number {
  if (node.kind === 'file') return 0
  let most = 0
  for (const [name, child] of node.entries) most = Math.max(most, 1 + name.length + deepest(child))
  return most
}

/**
 * A name /out may hold: the characters the receipt's output paths allow (schemas/receipt.schema.json,
 * `outputs[].path`: letters, digits, '.', '_', '-'), which also make a file name on any system the
 * client saves it to. Any other name is refused when the guest makes it (EILSEQ): a file the
 * receipt could not list would be a job whose receipt the signer refuses, its result lost.
 */
const OUTPUT_NAME = new RegExp(`^${PATH_SEGMENT}$`)
function isOutputName (name: string): boolean {
  return OUTPUT_NAME.test(name)
}
