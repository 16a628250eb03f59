/**
 * WASI preview1 `fd_*` and `path_*` calls over the fd table and the in-memory filesystem.
 * Errnos follow the spec and what wasi-libc turns them into (POSIX): a missing right is
 * ENOTCAPABLE, except reading or writing an fd not open for it, which is EBADF as in POSIX;
 * stdio cannot seek (ESPIPE); symlinks and hard links cannot be made (EPERM, as Linux says for a
 * filesystem without them). Struct layouts: see `constants.ts`.
 * Spec: https://github.com/WebAssembly/WASI/blob/main/legacy/preview1/docs.md
 */
import {
  EBADF, EEXIST, EFAULT, EILSEQ, EINVAL, EISDIR, ENAMETOOLONG, ENOENT, ENOTCAPABLE, ENOTDIR, EOVERFLOW, EPERM, ESPIPE, ESUCCESS,
  FDFLAGS_APPEND, FDFLAGS_DSYNC, FDFLAGS_NONBLOCK, FDFLAGS_RSYNC, FDFLAGS_SYNC, FDSTAT_SIZE, FILESTAT_SIZE, FILETYPE_DIRECTORY,
  FILETYPE_REGULAR_FILE, FILETYPE_UNKNOWN, FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW, FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW, DIRENT_SIZE,
  OFLAGS_CREAT, OFLAGS_DIRECTORY, OFLAGS_EXCL, OFLAGS_TRUNC, RIGHT, RIGHTS_DIR_ALL, RIGHTS_FILE_ALL, WHENCE_CUR, WHENCE_END, WHENCE_SET
} from './constants.ts'
import { isErrno, MAX_PATH_BYTES, type DirNode, type Errno, type FileNode, type FsNode, type MemFs } from './memfs.ts'
import type { FdEntry, FdTable } from './fd-table.ts'

/** Most iovecs one call may pass (POSIX IOV_MAX). */
export const IOV_MAX = 1024

export interface GuestMemory {
  view: () => DataView
  bytes: () => Uint8Array
}

/** What the fs calls need of stdio (owned by the host: the stdin buffer, the capped output). */
export interface Stdio {
  /** Copies stdin into `dst` from the current position; returns the bytes copied. */
  readStdin: (dst: Uint8Array) => number
  /** Appends to stdout (1) or stderr (2); ends the job past the output cap. */
  write: (fd: 1 | 2, src: Uint8Array) => number
}

type Impl = Record<string, (...args: any[]) => number> // eslint-disable-line @typescript-eslint/no-explicit-any

const decoder = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER)

export function createFsCalls (mem: GuestMemory, fs: MemFs, fds: FdTable, stdio: Stdio, now: () => bigint): Impl {
  /** The iovec list at `iovs` as [ptr, len] pairs, checked against memory. */
  const iovecs = (iovs: number, count: number): Array<[number, number]> | Errno => {
    if (count > IOV_MAX) return EINVAL
    const v = mem.view()
    const size = v.byteLength
    const list: Array<[number, number]> = []
    for (let i = 0; i < count; i++) {
      const ptr = v.getUint32(iovs + i * 8, true)
      const len = v.getUint32(iovs + i * 8 + 4, true)
      if (ptr + len > size) return EFAULT
      list.push([ptr, len])
    }
    return list
  }
  const readPath = (ptr: number, len: number): string | Errno => {
    if (len > MAX_PATH_BYTES) return ENAMETOOLONG
    const b = mem.bytes()
    if (ptr + len > b.byteLength) return EFAULT
    try { return decoder.decode(b.subarray(ptr, ptr + len)) } catch { return EILSEQ }
  }
  /** The directory fd `fd` with `rights`, and `path` read from memory. */
  const dirAndPath = (fd: number, rights: bigint, ptr: number, len: number): { entry: FdEntry, dir: DirNode, path: string } | Errno => {
    const entry = fds.get(fd)
    if (isErrno(entry)) return entry
    if (entry.target.kind !== 'dir') return ENOTDIR
    if ((entry.rightsBase & rights) !== rights) return ENOTCAPABLE
    const path = readPath(ptr, len)
    if (isErrno(path)) return path
    return { entry, dir: entry.target.node, path }
  }
  /** The parent folder and last name of a path the guest names relative to a folder fd it holds with `rights`. */
  const walkAt = (fd: number, rights: bigint, ptr: number, len: number): ReturnType<MemFs['walk']> => {
    const d = dirAndPath(fd, rights, ptr, len)
    return isErrno(d) ? d : fs.walk(d.dir, d.path)
  }
  const writeFilestat = (ptr: number, node: FsNode | undefined): void => {
    const v = mem.view()
    if (ptr + FILESTAT_SIZE > v.byteLength) throw new RangeError('offset is out of bounds')
    v.setBigUint64(ptr, 0n, true) // dev
    v.setBigUint64(ptr + 8, node?.ino ?? 0n, true)
    v.setUint8(ptr + 16, node === undefined ? FILETYPE_UNKNOWN : node.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE)
    v.setBigUint64(ptr + 24, 1n, true) // nlink
    v.setBigUint64(ptr + 32, BigInt(node?.kind === 'file' ? node.size : node?.kind === 'dir' ? node.entries.size : 0), true)
    v.setBigUint64(ptr + 40, node?.times.atim ?? 0n, true)
    v.setBigUint64(ptr + 48, node?.times.mtim ?? 0n, true)
    v.setBigUint64(ptr + 56, node?.times.ctim ?? 0n, true)
  }
  const setTimes = (node: FsNode, atim: bigint, mtim: bigint, flags: number): Errno => {
    if (((flags & FSTFLAGS_ATIM) !== 0 && (flags & FSTFLAGS_ATIM_NOW) !== 0) || ((flags & FSTFLAGS_MTIM) !== 0 && (flags & FSTFLAGS_MTIM_NOW) !== 0) || flags > 15) return EINVAL
    if (node.readonly) return ENOTCAPABLE
    const t = now()
    if ((flags & FSTFLAGS_ATIM) !== 0) node.times.atim = atim
    if ((flags & FSTFLAGS_ATIM_NOW) !== 0) node.times.atim = t
    if ((flags & FSTFLAGS_MTIM) !== 0) node.times.mtim = mtim
    if ((flags & FSTFLAGS_MTIM_NOW) !== 0) node.times.mtim = t
    node.times.ctim = t
    return ESUCCESS
  }
  const isStdio = (e: FdEntry): boolean => e.target.kind === 'stdin' || e.target.kind === 'stdout' || e.target.kind === 'stderr'

  /** Reads into the iovecs from a file at `offset`; returns the bytes read. */
  const readFile = (file: FileNode, offset: number, list: Array<[number, number]>): number => {
    const b = mem.bytes()
    let read = 0
    for (const [ptr, len] of list) {
      const chunk = file.data.subarray(Math.min(offset + read, file.size), Math.min(offset + read + len, file.size))
      b.set(chunk, ptr)
      read += chunk.byteLength
      if (chunk.byteLength < len) break
    }
    return read
  }
  /** Writes the iovecs to a file at `offset`; returns the bytes written. */
  const writeFile = (file: FileNode, offset: number, list: Array<[number, number]>): number => {
    let written = 0
    for (const [ptr, len] of list) {
      // Copied out first: the iovec may point into memory the write itself does not change,
      // but a view into a buffer that growth detaches must not be held across the write.
      fs.write(file, offset + written, mem.bytes().slice(ptr, ptr + len))
      written += len
    }
    return written
  }
  const rw = (read: boolean) => (fd: number, iovs: number, iovsLen: number, nPtr: number): number => {
    const e = fds.get(fd)
    if (isErrno(e)) return e
    // POSIX: an fd not open for reading (writing) is EBADF.
    if ((e.rightsBase & (read ? RIGHT.FD_READ : RIGHT.FD_WRITE)) === 0n) return e.target.kind === 'dir' ? EISDIR : EBADF
    const list = iovecs(iovs, iovsLen)
    if (isErrno(list)) return list
    let n = 0
    const t = e.target
    if (t.kind === 'stdin') {
      const b = mem.bytes()
      for (const [ptr, len] of list) {
        const got = stdio.readStdin(b.subarray(ptr, ptr + len))
        n += got
        if (got < len) break
      }
    } else if (t.kind === 'stdout' || t.kind === 'stderr') {
      const b = mem.bytes()
      for (const [ptr, len] of list) n += stdio.write(t.kind === 'stdout' ? 1 : 2, b.slice(ptr, ptr + len))
    } else if (t.kind === 'file') {
      if (read) n = readFile(t.node, e.pos, list)
      else {
        if ((e.flags & FDFLAGS_APPEND) !== 0) e.pos = t.node.size
        n = writeFile(t.node, e.pos, list)
      }
      e.pos += n
    } else return EISDIR
    mem.view().setUint32(nPtr, n, true)
    return ESUCCESS
  }
  const prw = (read: boolean) => (fd: number, iovs: number, iovsLen: number, offset: bigint, nPtr: number): number => {
    const e = fds.get(fd)
    if (isErrno(e)) return e
    if (isStdio(e)) return ESPIPE
    if (e.target.kind !== 'file') return EISDIR
    if ((e.rightsBase & (read ? RIGHT.FD_READ : RIGHT.FD_WRITE)) === 0n) return EBADF
    if ((e.rightsBase & RIGHT.FD_SEEK) === 0n) return ENOTCAPABLE
    const list = iovecs(iovs, iovsLen)
    if (isErrno(list)) return list
    if (offset > MAX_OFFSET) return EOVERFLOW
    const n = read ? readFile(e.target.node, Number(offset), list) : writeFile(e.target.node, Number(offset), list)
    mem.view().setUint32(nPtr, n, true)
    return ESUCCESS
  }

  return {
    fd_read: rw(true),
    fd_write: rw(false),
    fd_pread: prw(true),
    fd_pwrite: prw(false),
    fd_seek (fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (isStdio(e)) return ESPIPE
      // lseek(fd, 0, SEEK_CUR) is tell: FD_TELL is enough for it.
      const right = offset === 0n && whence === WHENCE_CUR ? RIGHT.FD_TELL : RIGHT.FD_SEEK
      if ((e.rightsBase & right) === 0n) return e.target.kind === 'dir' ? EISDIR : ENOTCAPABLE
      if (e.target.kind !== 'file') return EISDIR
      const signed = BigInt.asIntN(64, offset)
      const base = whence === WHENCE_SET ? 0n : whence === WHENCE_CUR ? BigInt(e.pos) : whence === WHENCE_END ? BigInt(e.target.node.size) : -1n
      if (base < 0n) return EINVAL
      const next = base + signed
      if (next < 0n) return EINVAL
      if (next > MAX_OFFSET) return EOVERFLOW
      mem.view().setBigUint64(newOffsetPtr, next, true)
      e.pos = Number(next)
      return ESUCCESS
    },
    fd_tell (fd: number, ptr: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (isStdio(e)) return ESPIPE
      if ((e.rightsBase & RIGHT.FD_TELL) === 0n) return e.target.kind === 'dir' ? EISDIR : ENOTCAPABLE
      mem.view().setBigUint64(ptr, BigInt(e.pos), true)
      return ESUCCESS
    },
    fd_fdstat_get (fd: number, ptr: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      const v = mem.view()
      if (ptr + FDSTAT_SIZE > v.byteLength) return EFAULT
      const t = e.target
      v.setUint8(ptr, t.kind === 'dir' ? FILETYPE_DIRECTORY : t.kind === 'file' ? FILETYPE_REGULAR_FILE : FILETYPE_UNKNOWN)
      v.setUint16(ptr + 2, e.flags, true)
      v.setBigUint64(ptr + 8, e.rightsBase, true)
      v.setBigUint64(ptr + 16, e.rightsInheriting, true)
      return ESUCCESS
    },
    fd_fdstat_set_flags (fd: number, flags: number): number {
      const e = fds.get(fd, RIGHT.FD_FDSTAT_SET_FLAGS)
      if (isErrno(e)) return e
      if ((flags & ~(FDFLAGS_APPEND | FDFLAGS_DSYNC | FDFLAGS_NONBLOCK | FDFLAGS_RSYNC | FDFLAGS_SYNC)) !== 0) return EINVAL
      e.flags = flags
      return ESUCCESS
    },
    fd_fdstat_set_rights (fd: number, base: bigint, inheriting: bigint): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      // Rights only ever narrow.
      if ((base & ~e.rightsBase) !== 0n || (inheriting & ~e.rightsInheriting) !== 0n) return ENOTCAPABLE
      e.rightsBase = base
      e.rightsInheriting = inheriting
      return ESUCCESS
    },
    fd_filestat_get (fd: number, ptr: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (!isStdio(e) && (e.rightsBase & RIGHT.FD_FILESTAT_GET) === 0n) return ENOTCAPABLE
      writeFilestat(ptr, e.target.kind === 'file' || e.target.kind === 'dir' ? e.target.node : undefined)
      return ESUCCESS
    },
    fd_filestat_set_size (fd: number, size: bigint): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (e.target.kind !== 'file') return isStdio(e) ? EINVAL : EISDIR
      if ((e.rightsBase & RIGHT.FD_FILESTAT_SET_SIZE) === 0n) return ENOTCAPABLE
      if (size > MAX_OFFSET) return EOVERFLOW
      fs.resize(e.target.node, Number(size))
      return ESUCCESS
    },
    fd_filestat_set_times (fd: number, atim: bigint, mtim: bigint, flags: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (e.target.kind !== 'file' && e.target.kind !== 'dir') return EBADF
      if ((e.rightsBase & RIGHT.FD_FILESTAT_SET_TIMES) === 0n) return ENOTCAPABLE
      return setTimes(e.target.node, atim, mtim, flags)
    },
    fd_advise (fd: number, _offset: bigint, _len: bigint, advice: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (isStdio(e)) return ESPIPE
      if (advice > 5) return EINVAL
      if (e.target.kind !== 'file') return EBADF
      if ((e.rightsBase & RIGHT.FD_ADVISE) === 0n) return ENOTCAPABLE
      return ESUCCESS
    },
    fd_allocate (fd: number, offset: bigint, len: bigint): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (e.target.kind !== 'file') return isStdio(e) ? ESPIPE : EBADF
      if ((e.rightsBase & RIGHT.FD_ALLOCATE) === 0n) return ENOTCAPABLE
      if (offset + len > MAX_OFFSET) return EOVERFLOW
      if (len === 0n) return EINVAL
      if (offset + len > BigInt(e.target.node.size)) fs.resize(e.target.node, Number(offset + len))
      return ESUCCESS
    },
    fd_datasync (fd: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (isStdio(e)) return EINVAL
      return (e.rightsBase & RIGHT.FD_DATASYNC) === 0n && e.target.kind === 'file' ? ENOTCAPABLE : ESUCCESS
    },
    fd_sync (fd: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (isStdio(e)) return EINVAL
      return (e.rightsBase & RIGHT.FD_SYNC) === 0n ? ENOTCAPABLE : ESUCCESS
    },
    fd_close: (fd: number): number => fds.close(fd) ?? ESUCCESS,
    fd_renumber: (from: number, to: number): number => fds.renumber(from, to) ?? ESUCCESS,
    fd_prestat_get (fd: number, ptr: number): number {
      const e = fds.get(fd)
      // wasi-libc asks fd 3, 4, ... until EBADF: any fd that is not a preopen ends the list.
      if (isErrno(e) || e.preopen === undefined) return EBADF
      const v = mem.view()
      if (ptr + 8 > v.byteLength) return EFAULT
      v.setUint8(ptr, 0) // preopentype dir
      v.setUint32(ptr + 4, encoder.encode(e.preopen).byteLength, true)
      return ESUCCESS
    },
    fd_prestat_dir_name (fd: number, ptr: number, len: number): number {
      const e = fds.get(fd)
      if (isErrno(e) || e.preopen === undefined) return EBADF
      const name = encoder.encode(e.preopen)
      if (len < name.byteLength) return ENAMETOOLONG
      const b = mem.bytes()
      if (ptr + name.byteLength > b.byteLength) return EFAULT
      b.set(name, ptr)
      return ESUCCESS
    },
    fd_readdir (fd: number, buf: number, bufLen: number, cookie: bigint, usedPtr: number): number {
      const e = fds.get(fd)
      if (isErrno(e)) return e
      if (e.target.kind !== 'dir') return ENOTDIR
      if ((e.rightsBase & RIGHT.FD_READDIR) === 0n) return ENOTCAPABLE
      const dir = e.target.node
      const b = mem.bytes()
      if (buf + bufLen > b.byteLength) return EFAULT
      // Cookie i = the i-th entry: '.', '..', then names in sorted order (stable across calls).
      const entries: Array<[string, FsNode]> = [['.', dir], ['..', dir.parent ?? dir], ...[...dir.entries].sort(([a], [c]) => a < c ? -1 : 1)]
      const out = new Uint8Array(bufLen)
      let used = 0
      for (let i = cookie > BigInt(entries.length) ? entries.length : Number(cookie); i < entries.length && used < bufLen; i++) {
        const [name, node] = entries[i]!
        const nameBytes = encoder.encode(name)
        const rec = new Uint8Array(DIRENT_SIZE + nameBytes.byteLength)
        const rv = new DataView(rec.buffer)
        rv.setBigUint64(0, BigInt(i + 1), true) // d_next
        rv.setBigUint64(8, node.ino, true)
        rv.setUint32(16, nameBytes.byteLength, true)
        rv.setUint8(20, node.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE)
        rec.set(nameBytes, DIRENT_SIZE)
        // The last record is cut at the buffer's end: the spec's signal to retry with more room.
        const take = Math.min(rec.byteLength, bufLen - used)
        out.set(rec.subarray(0, take), used)
        used += take
      }
      b.set(out.subarray(0, used), buf)
      mem.view().setUint32(usedPtr, used, true)
      return ESUCCESS
    },
    path_open (fd: number, _lookupFlags: number, pathPtr: number, pathLen: number, oflags: number, rightsBase: bigint, rightsInheriting: bigint, fdflags: number, fdPtr: number): number {
      const d = dirAndPath(fd, RIGHT.PATH_OPEN, pathPtr, pathLen)
      if (isErrno(d)) return d
      // Checked first: a file must not be created (or truncated) for an fd the guest cannot get.
      if (fdPtr + 4 > mem.view().byteLength) return EFAULT
      const w = fs.walk(d.dir, d.path)
      if (isErrno(w)) return w
      let node = fs.step(w.dir, w.last)
      if (isErrno(node) && node !== ENOENT) return node
      if (isErrno(node)) {
        if ((oflags & OFLAGS_CREAT) === 0) return ENOENT
        if ((oflags & OFLAGS_DIRECTORY) !== 0 || w.trailingSlash) return w.trailingSlash ? EISDIR : EINVAL
        if ((d.entry.rightsBase & RIGHT.PATH_CREATE_FILE) === 0n) return ENOTCAPABLE
        const made = fs.createFile(w.dir, w.last)
        if (isErrno(made)) return made
        node = made
      } else {
        if ((oflags & OFLAGS_CREAT) !== 0 && (oflags & OFLAGS_EXCL) !== 0) return EEXIST
        if (node.kind !== 'dir' && ((oflags & OFLAGS_DIRECTORY) !== 0 || w.trailingSlash)) return ENOTDIR
        if (node.kind === 'dir' && ((oflags & OFLAGS_TRUNC) !== 0 || (rightsBase & RIGHT.FD_WRITE) !== 0n)) return EISDIR
        if ((oflags & OFLAGS_CREAT) !== 0 && (d.entry.rightsBase & RIGHT.PATH_CREATE_FILE) === 0n) return ENOTCAPABLE
      }
      if ((oflags & OFLAGS_TRUNC) !== 0 && node.kind === 'file') {
        if ((d.entry.rightsBase & RIGHT.PATH_FILESTAT_SET_SIZE) === 0n || node.readonly) return ENOTCAPABLE
        fs.resize(node, 0)
      }
      // The new fd gets what it asked for, within what the directory passes on (never more).
      const kindRights = node.kind === 'dir' ? RIGHTS_DIR_ALL : RIGHTS_FILE_ALL
      const opened = fds.open({
        target: node.kind === 'dir' ? { kind: 'dir', node } : { kind: 'file', node },
        rightsBase: rightsBase & d.entry.rightsInheriting & kindRights,
        rightsInheriting: rightsInheriting & d.entry.rightsInheriting,
        flags: fdflags & (FDFLAGS_APPEND | FDFLAGS_DSYNC | FDFLAGS_NONBLOCK | FDFLAGS_RSYNC | FDFLAGS_SYNC),
        pos: 0
      })
      if (isErrno(opened)) return opened
      mem.view().setUint32(fdPtr, opened.fd, true)
      return ESUCCESS
    },
    path_filestat_get (fd: number, _flags: number, pathPtr: number, pathLen: number, buf: number): number {
      const d = dirAndPath(fd, RIGHT.PATH_FILESTAT_GET, pathPtr, pathLen)
      if (isErrno(d)) return d
      const node = fs.lookup(d.dir, d.path)
      if (isErrno(node)) return node
      writeFilestat(buf, node)
      return ESUCCESS
    },
    path_filestat_set_times (fd: number, _flags: number, pathPtr: number, pathLen: number, atim: bigint, mtim: bigint, fstFlags: number): number {
      const d = dirAndPath(fd, RIGHT.PATH_FILESTAT_SET_TIMES, pathPtr, pathLen)
      if (isErrno(d)) return d
      const node = fs.lookup(d.dir, d.path)
      if (isErrno(node)) return node
      return setTimes(node, atim, mtim, fstFlags)
    },
    path_create_directory (fd: number, pathPtr: number, pathLen: number): number {
      const w = walkAt(fd, RIGHT.PATH_CREATE_DIRECTORY, pathPtr, pathLen)
      if (isErrno(w)) return w
      return fs.createDir(w.dir, w.last) ?? ESUCCESS
    },
    path_remove_directory (fd: number, pathPtr: number, pathLen: number): number {
      const w = walkAt(fd, RIGHT.PATH_REMOVE_DIRECTORY, pathPtr, pathLen)
      if (isErrno(w)) return w
      return fs.removeDir(w.dir, w.last) ?? ESUCCESS
    },
    path_unlink_file (fd: number, pathPtr: number, pathLen: number): number {
      const w = walkAt(fd, RIGHT.PATH_UNLINK_FILE, pathPtr, pathLen)
      if (isErrno(w)) return w
      if (w.last === '.' || w.last === '..') return EISDIR
      return fs.unlinkFile(w.dir, w.last, w.trailingSlash) ?? ESUCCESS
    },
    path_rename (fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const from = dirAndPath(fd, RIGHT.PATH_RENAME_SOURCE, oldPtr, oldLen)
      if (isErrno(from)) return from
      const to = dirAndPath(newFd, RIGHT.PATH_RENAME_TARGET, newPtr, newLen)
      if (isErrno(to)) return to
      const a = fs.walk(from.dir, from.path)
      if (isErrno(a)) return a
      const b = fs.walk(to.dir, to.path)
      if (isErrno(b)) return b
      return fs.rename(a.dir, a.last, b.dir, b.last) ?? ESUCCESS
    },
    path_link (oldFd: number, _flags: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const from = dirAndPath(oldFd, RIGHT.PATH_LINK_SOURCE, oldPtr, oldLen)
      if (isErrno(from)) return from
      const to = dirAndPath(newFd, RIGHT.PATH_LINK_TARGET, newPtr, newLen)
      if (isErrno(to)) return to
      const source = fs.lookup(from.dir, from.path)
      if (isErrno(source)) return source
      const target = fs.lookup(to.dir, to.path)
      if (!isErrno(target)) return EEXIST
      // No hard links in this filesystem (link(2): EPERM when the filesystem has none).
      return EPERM
    },
    path_symlink (oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number): number {
      const target = readPath(oldPtr, oldLen)
      if (isErrno(target)) return target
      const d = dirAndPath(fd, RIGHT.PATH_SYMLINK, newPtr, newLen)
      if (isErrno(d)) return d
      const existing = fs.lookup(d.dir, d.path)
      if (!isErrno(existing)) return EEXIST
      // No symlinks (symlink(2): EPERM when the filesystem does not support them).
      return EPERM
    },
    path_readlink (fd: number, pathPtr: number, pathLen: number, _buf: number, _bufLen: number, _usedPtr: number): number {
      const d = dirAndPath(fd, RIGHT.PATH_READLINK, pathPtr, pathLen)
      if (isErrno(d)) return d
      const node = fs.lookup(d.dir, d.path)
      if (isErrno(node)) return node
      // Nothing here is a symlink (readlink(2): EINVAL).
      return EINVAL
    }
  }
}
