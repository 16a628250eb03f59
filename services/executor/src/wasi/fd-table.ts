/**
 * The guest's file descriptors: 0–2 stdio, 3 the preopen `/in`, 4 the preopen `/out`, then
 * what the guest opens (lowest free number first, as POSIX does), at most MAX_FDS in all
 * (EMFILE past it). Each holds its rights: WASI's capabilities, which path_open narrows and
 * never widens.
 */
import { EBADF, EMFILE, ENOTCAPABLE, RIGHTS_DIR_ALL, RIGHTS_DIR_READ, RIGHTS_FILE_ALL, RIGHTS_FILE_READ, RIGHTS_STDIN, RIGHTS_STDOUT } from './constants.ts'
import type { DirNode, Errno, FileNode, MemFs } from './memfs.ts'

/** Open descriptors a job may hold, stdio and preopens included. */
export const MAX_FDS = 128

export type FdTarget =
  | { kind: 'stdin' }
  | { kind: 'stdout' | 'stderr' }
  | { kind: 'file', node: FileNode }
  | { kind: 'dir', node: DirNode }

export interface FdEntry {
  target: FdTarget
  rightsBase: bigint
  rightsInheriting: bigint
  /** fdflags (APPEND, NONBLOCK, ...). */
  flags: number
  /** File offset (regular files). */
  pos: number
  /** The guest path of a preopened directory (`/in`, `/out`); absent for other fds. */
  preopen?: string
}

export class FdTable {
  private readonly fds = new Map<number, FdEntry>()
  private readonly fs: MemFs

  constructor (fs: MemFs) {
    this.fs = fs
    const stdio = (kind: 'stdin' | 'stdout' | 'stderr'): FdEntry => ({ target: { kind } as FdTarget, rightsBase: kind === 'stdin' ? RIGHTS_STDIN : RIGHTS_STDOUT, rightsInheriting: 0n, flags: 0, pos: 0 })
    this.fds.set(0, stdio('stdin'))
    this.fds.set(1, stdio('stdout'))
    this.fds.set(2, stdio('stderr'))
    this.fds.set(3, { target: { kind: 'dir', node: fs.input }, rightsBase: RIGHTS_DIR_READ, rightsInheriting: RIGHTS_DIR_READ | RIGHTS_FILE_READ, flags: 0, pos: 0, preopen: '/in' })
    this.fds.set(4, { target: { kind: 'dir', node: fs.output }, rightsBase: RIGHTS_DIR_ALL, rightsInheriting: RIGHTS_DIR_ALL | RIGHTS_FILE_ALL, flags: 0, pos: 0, preopen: '/out' })
  }

  /** The entry of `fd` if it has every right in `rights` (EBADF if closed, ENOTCAPABLE if not). */
  get (fd: number, rights = 0n): FdEntry | Errno {
    const e = this.fds.get(fd)
    if (e === undefined) return EBADF
    if ((e.rightsBase & rights) !== rights) return ENOTCAPABLE
    return e
  }

  /** The new fd's number (lowest free), or EMFILE. */
  open (entry: FdEntry): { fd: number } | Errno {
    if (this.fds.size >= MAX_FDS) return EMFILE
    let fd = 0
    while (this.fds.has(fd)) fd++
    if (entry.target.kind === 'file') entry.target.node.opens++
    this.fds.set(fd, entry)
    return { fd }
  }

  close (fd: number): Errno | undefined {
    const e = this.fds.get(fd)
    if (e === undefined) return EBADF
    this.fds.delete(fd)
    this.drop(e)
    return undefined
  }

  /** fd_renumber: `to` becomes `from`'s entry (the old `to` is closed), `from` is freed. */
  renumber (from: number, to: number): Errno | undefined {
    const e = this.fds.get(from)
    const old = this.fds.get(to)
    if (e === undefined || old === undefined) return EBADF
    if (from === to) return undefined
    this.fds.set(to, e)
    this.fds.delete(from)
    this.drop(old)
    return undefined
  }

  private drop (e: FdEntry): void {
    if (e.target.kind !== 'file') return
    e.target.node.opens--
    this.fs.release(e.target.node)
  }
}
