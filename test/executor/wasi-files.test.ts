/**
 * WASI preview1 conformance, files and directories: the preopens /in (read-only inputs) and /out
 * (writable, in memory), path_* and fd_* calls on them, with the errnos wasi-libc expects.
 * Each test calls the host through a wasm module (`wasi-guest.ts`).
 */
import { describe, it, expect } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { guest, bytes, E, O, type Guest } from './wasi-guest.ts'
import { RIGHT, RIGHTS_FILE_READ } from '../../services/executor/src/wasi/constants.ts'

const IN = 3
const OUT = 4
const P = 0x8000
const inputs = [
  { path: '/in/data.txt', data: bytes('hello, world\n') },
  { path: '/in/sub/deep.bin', data: Uint8Array.from([1, 2, 3]) }
]
const withInputs = async (): Promise<Guest> => await guest({ inputs })

describe('WASI fd_prestat_get / fd_prestat_dir_name', () => {
  it('lists /in as fd 3 and /out as fd 4, then EBADF', async () => {
    const g = await guest()
    expect(g.call.fd_prestat_get!(3, P)).toBe(E.SUCCESS)
    expect(g.bytes()[P]).toBe(0)
    expect(g.u32(P + 4)).toBe(3)
    expect(g.call.fd_prestat_dir_name!(3, P + 16, 3)).toBe(E.SUCCESS)
    expect(g.text(P + 16, 3)).toBe('/in')
    expect(g.call.fd_prestat_get!(4, P)).toBe(E.SUCCESS)
    expect(g.u32(P + 4)).toBe(4)
    expect(g.call.fd_prestat_dir_name!(4, P + 16, 4)).toBe(E.SUCCESS)
    expect(g.text(P + 16, 4)).toBe('/out')
    expect(g.call.fd_prestat_get!(5, P)).toBe(E.BADF)
    expect(g.call.fd_prestat_get!(1, P)).toBe(E.BADF)
    expect(g.call.fd_prestat_dir_name!(4, P, 3)).toBe(E.NAMETOOLONG)
  })

  it('answers EBADF for an opened file, which is no preopen', async () => {
    const g = await withInputs()
    const [, fd] = g.open(IN, 'data.txt')
    expect(fd).toBe(5)
    expect(g.call.fd_prestat_get!(fd, P)).toBe(E.BADF)
  })
})

describe('WASI path_open', () => {
  it('opens an input file read-only and reads it', async () => {
    const g = await withInputs()
    const [errno, fd] = g.open(IN, 'data.txt')
    expect(errno).toBe(E.SUCCESS)
    expect(g.read(fd, 100)).toEqual([E.SUCCESS, 'hello, world\n'])
    expect(g.read(fd, 100)).toEqual([E.SUCCESS, ''])
  })

  it('resolves ./, sub/../ and nested paths, and refuses .. out of the preopen', async () => {
    const g = await withInputs()
    expect(g.open(IN, './sub/../data.txt')[0]).toBe(E.SUCCESS)
    expect(g.open(IN, 'sub/deep.bin')[0]).toBe(E.SUCCESS)
    expect(g.open(IN, '../in/data.txt')[0]).toBe(E.NOTCAPABLE)
    expect(g.open(IN, 'sub/../../out')[0]).toBe(E.NOTCAPABLE)
    expect(g.open(IN, '/etc/passwd')[0]).toBe(E.NOTCAPABLE)
    expect(g.open(IN, 'missing')[0]).toBe(E.NOENT)
    expect(g.open(IN, '')[0]).toBe(E.NOENT)
    expect(g.open(IN, 'data.txt/x')[0]).toBe(E.NOTDIR)
    expect(g.open(IN, 'data.txt/')[0]).toBe(E.NOTDIR)
  })

  it('refuses to create, truncate or write under /in (the preopen has no write rights)', async () => {
    const g = await withInputs()
    expect(g.open(IN, 'new.txt', O.CREAT)[0]).toBe(E.NOTCAPABLE)
    expect(g.open(IN, 'data.txt', O.TRUNC)[0]).toBe(E.NOTCAPABLE)
    // Asking for write rights gets an fd without them: writing is then EBADF, as on an O_RDONLY fd.
    const [errno, fd] = g.open(IN, 'data.txt', 0, -1n)
    expect(errno).toBe(E.SUCCESS)
    expect(g.write(fd, 'x')[0]).toBe(E.BADF)
    expect(g.call.fd_fdstat_get!(fd, P)).toBe(E.SUCCESS)
    expect(g.u64(P + 8) & RIGHT.FD_WRITE).toBe(0n)
    expect(g.read(fd, 5)).toEqual([E.SUCCESS, 'hello'])
  })

  it('creates with O_CREAT, refuses O_CREAT|O_EXCL on an existing file, truncates with O_TRUNC', async () => {
    const g = await guest()
    const [e1, fd] = g.open(OUT, 'a.txt', O.CREAT)
    expect(e1).toBe(E.SUCCESS)
    expect(g.write(fd, 'abcdef')).toEqual([E.SUCCESS, 6])
    expect(g.open(OUT, 'a.txt', O.CREAT | O.EXCL)[0]).toBe(E.EXIST)
    expect(g.open(OUT, 'b.txt', O.CREAT | O.EXCL)[0]).toBe(E.SUCCESS)
    expect(g.open(OUT, 'a.txt', O.TRUNC)[0]).toBe(E.SUCCESS)
    expect(g.host.outputs().map((o) => [o.path, o.data.byteLength])).toEqual([['/out/a.txt', 0], ['/out/b.txt', 0]])
  })

  it('honours O_DIRECTORY and refuses a directory opened for writing', async () => {
    const g = await withInputs()
    expect(g.open(IN, 'sub', O.DIRECTORY, RIGHTS_FILE_READ)[0]).toBe(E.SUCCESS)
    expect(g.open(IN, 'data.txt', O.DIRECTORY)[0]).toBe(E.NOTDIR)
    expect(g.open(OUT, '.', 0, RIGHT.FD_WRITE)[0]).toBe(E.ISDIR)
    expect(g.open(OUT, 'new', O.CREAT | O.DIRECTORY)[0]).toBe(E.INVAL)
  })

  it('never gives an fd more rights than its directory passes on', async () => {
    const g = await withInputs()
    const [, fd] = g.open(IN, 'data.txt', 0, RIGHT.FD_READ | RIGHT.FD_WRITE)
    expect(g.call.fd_fdstat_get!(fd, P)).toBe(E.SUCCESS)
    expect(g.u64(P + 8)).toBe(RIGHT.FD_READ)
    expect(g.call.fd_seek!(fd, 0n, 2, P)).toBe(E.NOTCAPABLE)
  })

  it('answers EBADF on a closed fd and ENOTDIR on a file fd used as a directory', async () => {
    const g = await withInputs()
    expect(g.open(9, 'x')[0]).toBe(E.BADF)
    const [, fd] = g.open(IN, 'data.txt')
    expect(g.open(fd, 'x')[0]).toBe(E.NOTDIR)
    expect(g.open(1, 'x')[0]).toBe(E.NOTDIR)
  })

  it('answers EILSEQ for a path that is not UTF-8 and EINVAL for one with NUL', async () => {
    const g = await guest()
    g.str(P, Uint8Array.from([0xff, 0xfe]))
    expect(g.call.path_open!(OUT, 0, P, 2, O.CREAT, -1n, -1n, 0, P + 64)).toBe(E.ILSEQ)
    expect(g.open(OUT, 'a\0b', O.CREAT)[0]).toBe(E.INVAL)
  })

  it('refuses to create a name the receipt cannot list (names go into the receipt and onto disks)', async () => {
    const g = await guest()
    expect(g.open(OUT, 'a\nb', O.CREAT)[0]).toBe(E.ILSEQ)
    expect(g.call.path_create_directory!(OUT, ...g.str(P, 'esc\u001b[31m'))).toBe(E.ILSEQ)
    // Outside the receipt's output path characters (schemas/receipt.schema.json): the signer
    // would refuse the receipt and the job's result would be lost.
    expect(g.open(OUT, 'été ✓', O.CREAT)[0]).toBe(E.ILSEQ)
    expect(g.open(OUT, 'a b', O.CREAT)[0]).toBe(E.ILSEQ)
    expect(g.call.path_create_directory!(OUT, ...g.str(P, 'dir:x'))).toBe(E.ILSEQ)
    const [, fd] = g.open(OUT, 'ok-1_.txt', O.CREAT)
    expect(fd).toBeGreaterThan(0)
    expect(g.call.path_rename!(OUT, ...g.str(P, 'ok-1_.txt'), OUT, ...g.str(P + 64, 'ok 2'))).toBe(E.ILSEQ)
    expect(g.host.outputs().map((o) => o.path)).toEqual(['/out/ok-1_.txt'])
  })

  it('makes exactly the names a receipt can list (the schema\'s own output path pattern)', async () => {
    const schema = JSON.parse(readFileSync(new URL('../../schemas/receipt.schema.json', import.meta.url), 'utf8')) as { properties: { outputs: { items: { properties: { path: { pattern: string } } } } } }
    const listable = new RegExp(schema.properties.outputs.items.properties.path.pattern, 'u')
    const g = await guest()
    // Every printable ASCII character but the separator, and some beyond, each in a name of its own.
    const ascii = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== '/')
    const names = [...ascii.map((c, i) => `n${c}${i}`), 'n\u00e9', 'n\u2713', 'n\u{1f600}', 'n\u00a0', '...', '.hidden', '-dash', '_']
    const disagree = names.filter((name) => (g.open(OUT, name, O.CREAT)[0] === E.SUCCESS) !== listable.test(`/out/${name}`))
    expect(disagree).toEqual([])
    expect(g.host.outputs().length).toBe(names.filter((name) => listable.test(`/out/${name}`)).length)
    expect(g.host.outputs().length).toBeGreaterThan(60)
  })
})

describe('WASI fd_read / fd_write / fd_pread / fd_pwrite / fd_seek / fd_tell', () => {
  it('reads and writes at the offset, seeks from start, current and end, tells the offset', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    g.write(fd, 'hello world')
    expect(g.call.fd_tell!(fd, P)).toBe(E.SUCCESS)
    expect(g.u64(P)).toBe(11n)
    expect(g.call.fd_seek!(fd, 6n, 0, P)).toBe(E.SUCCESS)
    expect(g.u64(P)).toBe(6n)
    expect(g.read(fd, 3)).toEqual([E.SUCCESS, 'wor'])
    expect(g.call.fd_seek!(fd, -2n, 1, P)).toBe(E.SUCCESS)
    expect(g.u64(P)).toBe(7n)
    expect(g.call.fd_seek!(fd, -1n, 2, P)).toBe(E.SUCCESS)
    expect(g.read(fd, 10)).toEqual([E.SUCCESS, 'd'])
    expect(g.call.fd_seek!(fd, -100n, 1, P)).toBe(E.INVAL)
    expect(g.call.fd_seek!(fd, 0n, 3, P)).toBe(E.INVAL)
    // Past the end, then a write: the gap reads as zeros.
    expect(g.call.fd_seek!(fd, 13n, 0, P)).toBe(E.SUCCESS)
    g.write(fd, '!')
    expect([...g.host.outputs()[0]!.data.subarray(11)]).toEqual([0, 0, 33])
  })

  it('writes at the end with FDFLAGS_APPEND whatever the offset', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'log', O.CREAT, -1n, 1)
    g.write(fd, 'ab')
    g.call.fd_seek!(fd, 0n, 0, P)
    g.write(fd, 'cd')
    expect(g.text(0, 0) + new TextDecoder().decode(g.host.outputs()[0]!.data)).toBe('abcd')
  })

  it('reads and writes at a given offset with pread/pwrite without moving the offset', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    g.write(fd, '0123456789')
    g.str(P, 'XY')
    g.iovs(P + 16, [[P, 2]])
    expect(g.call.fd_pwrite!(fd, P + 16, 1, 3n, P + 32)).toBe(E.SUCCESS)
    expect(g.u32(P + 32)).toBe(2)
    g.iovs(P + 16, [[P + 64, 4], [P + 80, 4]])
    expect(g.call.fd_pread!(fd, P + 16, 2, 2n, P + 32)).toBe(E.SUCCESS)
    expect(g.u32(P + 32)).toBe(8)
    expect(g.text(P + 64, 4) + g.text(P + 80, 4)).toBe('2XY56789')
    expect(g.call.fd_tell!(fd, P)).toBe(E.SUCCESS)
    expect(g.u64(P)).toBe(10n)
    expect(g.call.fd_pread!(1, P + 16, 1, 0n, P + 32)).toBe(E.SPIPE)
    expect(g.call.fd_pwrite!(OUT, P + 16, 1, 0n, P + 32)).toBe(E.ISDIR)
  })

  it('answers EISDIR for reading a directory and EBADF for writing stdin or reading stdout', async () => {
    const g = await guest()
    expect(g.read(OUT, 4)[0]).toBe(E.ISDIR)
    expect(g.write(0, 'x')[0]).toBe(E.BADF)
    expect(g.read(1, 4)[0]).toBe(E.BADF)
    expect(g.read(7, 4)[0]).toBe(E.BADF)
  })

  it('answers ESPIPE for seek and tell on stdio', async () => {
    const g = await guest()
    expect(g.call.fd_seek!(0, 0n, 1, P)).toBe(E.SPIPE)
    expect(g.call.fd_tell!(1, P)).toBe(E.SPIPE)
  })
})

describe('WASI fd_fdstat_get / fd_fdstat_set_flags / fd_fdstat_set_rights', () => {
  it('describes a directory, a regular file and stdio (not a terminal)', async () => {
    const g = await withInputs()
    expect(g.call.fd_fdstat_get!(IN, P)).toBe(E.SUCCESS)
    expect(g.bytes()[P]).toBe(3)
    expect(g.u64(P + 8) & RIGHT.PATH_CREATE_FILE).toBe(0n)
    expect(g.call.fd_fdstat_get!(OUT, P)).toBe(E.SUCCESS)
    expect(g.u64(P + 8) & RIGHT.PATH_CREATE_FILE).toBe(RIGHT.PATH_CREATE_FILE)
    const [, fd] = g.open(IN, 'data.txt')
    expect(g.call.fd_fdstat_get!(fd, P)).toBe(E.SUCCESS)
    expect(g.bytes()[P]).toBe(4)
    for (const std of [0, 1, 2]) {
      expect(g.call.fd_fdstat_get!(std, P)).toBe(E.SUCCESS)
      // wasi-libc's isatty(): a tty is a CHARACTER_DEVICE (2) without FD_SEEK/FD_TELL.
      expect(g.bytes()[P]).not.toBe(2)
    }
    expect(g.call.fd_fdstat_get!(99, P)).toBe(E.BADF)
  })

  it('sets APPEND and NONBLOCK, refuses unknown flags', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    expect(g.call.fd_fdstat_set_flags!(fd, 1 | 4)).toBe(E.SUCCESS)
    g.call.fd_fdstat_get!(fd, P)
    expect(g.view().getUint16(P + 2, true)).toBe(5)
    expect(g.call.fd_fdstat_set_flags!(fd, 64)).toBe(E.INVAL)
    expect(g.call.fd_fdstat_set_flags!(1, 4)).toBe(E.SUCCESS)
  })

  it('narrows rights and refuses to widen them', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    expect(g.call.fd_fdstat_set_rights!(fd, RIGHT.FD_READ, 0n)).toBe(E.SUCCESS)
    expect(g.write(fd, 'x')[0]).toBe(E.BADF)
    expect(g.call.fd_fdstat_set_rights!(fd, RIGHT.FD_READ | RIGHT.FD_WRITE, 0n)).toBe(E.NOTCAPABLE)
  })
})

describe('WASI fd_filestat_get / path_filestat_get / fd_filestat_set_size / set_times', () => {
  it('reports type, size and inode of files and directories', async () => {
    const g = await withInputs()
    const [p, l] = g.str(P + 200, 'data.txt')
    expect(g.call.path_filestat_get!(IN, 1, p, l, P)).toBe(E.SUCCESS)
    expect(g.bytes()[P + 16]).toBe(4)
    expect(g.u64(P + 32)).toBe(13n)
    const ino = g.u64(P + 8)
    const [, fd] = g.open(IN, 'data.txt')
    expect(g.call.fd_filestat_get!(fd, P)).toBe(E.SUCCESS)
    expect(g.u64(P + 8)).toBe(ino)
    expect(g.call.fd_filestat_get!(IN, P)).toBe(E.SUCCESS)
    expect(g.bytes()[P + 16]).toBe(3)
    const [q, m] = g.str(P + 200, 'nope')
    expect(g.call.path_filestat_get!(IN, 1, q, m, P)).toBe(E.NOENT)
  })

  it('truncates and extends a file with fd_filestat_set_size', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    g.write(fd, 'abcdef')
    expect(g.call.fd_filestat_set_size!(fd, 2n)).toBe(E.SUCCESS)
    expect(g.call.fd_filestat_set_size!(fd, 4n)).toBe(E.SUCCESS)
    expect([...g.host.outputs()[0]!.data]).toEqual([97, 98, 0, 0])
    expect(g.call.fd_filestat_set_size!(OUT, 0n)).toBe(E.ISDIR)
  })

  it('sets times on /out and refuses on /in; refuses ATIM with ATIM_NOW', async () => {
    const g = await withInputs()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    expect(g.call.fd_filestat_set_times!(fd, 5n, 7n, 1 | 4)).toBe(E.SUCCESS)
    g.call.fd_filestat_get!(fd, P)
    expect([g.u64(P + 40), g.u64(P + 48)]).toEqual([5n, 7n])
    expect(g.call.fd_filestat_set_times!(fd, 5n, 7n, 1 | 2)).toBe(E.INVAL)
    const [p, l] = g.str(P + 200, 'f')
    expect(g.call.path_filestat_set_times!(OUT, 1, p, l, 9n, 9n, 1)).toBe(E.SUCCESS)
    g.call.fd_filestat_get!(fd, P)
    expect(g.u64(P + 40)).toBe(9n)
    const [q, m] = g.str(P + 200, 'data.txt')
    expect(g.call.path_filestat_set_times!(IN, 1, q, m, 9n, 9n, 1)).toBe(E.NOTCAPABLE)
  })
})

describe('WASI fd_advise / fd_allocate / fd_sync / fd_datasync', () => {
  it('accepts advice on a file, refuses a bad advice and stdio', async () => {
    const g = await withInputs()
    const [, fd] = g.open(IN, 'data.txt')
    expect(g.call.fd_advise!(fd, 0n, 10n, 2)).toBe(E.SUCCESS)
    expect(g.call.fd_advise!(fd, 0n, 10n, 6)).toBe(E.INVAL)
    expect(g.call.fd_advise!(1, 0n, 0n, 0)).toBe(E.SPIPE)
  })

  it('extends a file with fd_allocate, never shrinks it', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    expect(g.call.fd_allocate!(fd, 0n, 10n)).toBe(E.SUCCESS)
    expect(g.call.fd_allocate!(fd, 0n, 3n)).toBe(E.SUCCESS)
    expect(g.host.outputs()[0]!.data.byteLength).toBe(10)
    expect(g.call.fd_allocate!(fd, 0n, 0n)).toBe(E.INVAL)
  })

  it('syncs files and directories, EINVAL on stdio', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    expect(g.call.fd_sync!(fd)).toBe(E.SUCCESS)
    expect(g.call.fd_datasync!(fd)).toBe(E.SUCCESS)
    expect(g.call.fd_sync!(OUT)).toBe(E.SUCCESS)
    expect(g.call.fd_sync!(1)).toBe(E.INVAL)
    expect(g.call.fd_datasync!(1)).toBe(E.INVAL)
    expect(g.call.fd_sync!(42)).toBe(E.BADF)
  })
})

describe('WASI fd_close / fd_renumber', () => {
  it('closes an fd (EBADF after) and reuses the lowest free number', async () => {
    const g = await withInputs()
    const [, a] = g.open(IN, 'data.txt')
    const [, b] = g.open(IN, 'data.txt')
    expect([a, b]).toEqual([5, 6])
    expect(g.call.fd_close!(a)).toBe(E.SUCCESS)
    expect(g.call.fd_close!(a)).toBe(E.BADF)
    expect(g.open(IN, 'data.txt')[1]).toBe(5)
  })

  it('renumbers onto an open fd, closing it; EBADF when either is closed', async () => {
    const g = await withInputs()
    const [, a] = g.open(IN, 'data.txt')
    const [, b] = g.open(IN, 'sub/deep.bin')
    expect(g.call.fd_renumber!(b, a)).toBe(E.SUCCESS)
    g.iovs(P, [[P + 64, 8]])
    expect(g.call.fd_read!(a, P, 1, P + 32)).toBe(E.SUCCESS)
    expect(g.u32(P + 32)).toBe(3)
    expect(g.call.fd_read!(b, P, 1, P + 32)).toBe(E.BADF)
    expect(g.call.fd_renumber!(a, 50)).toBe(E.BADF)
    expect(g.call.fd_renumber!(50, a)).toBe(E.BADF)
    expect(g.call.fd_renumber!(a, a)).toBe(E.SUCCESS)
  })
})

describe('WASI fd_readdir', () => {
  it('lists ., .. and the entries sorted, with d_next cookies and the dirent layout', async () => {
    const g = await withInputs()
    expect(g.call.fd_readdir!(IN, P, 4096, 0n, P + 8192)).toBe(E.SUCCESS)
    const used = g.u32(P + 8192)
    const names: Array<[string, bigint, number]> = []
    for (let o = P; o < P + used;) {
      const len = g.u32(o + 16)
      names.push([g.text(o + 24, len), g.u64(o), g.bytes()[o + 20]!])
      o += 24 + len
    }
    expect(names).toEqual([['.', 1n, 3], ['..', 2n, 3], ['data.txt', 3n, 4], ['sub', 4n, 3]])
    // From cookie 3: the rest only.
    expect(g.call.fd_readdir!(IN, P, 4096, 3n, P + 8192)).toBe(E.SUCCESS)
    expect(g.u32(P + 8192)).toBe(24 + 3)
    expect(g.call.fd_readdir!(IN, P, 4096, 99n, P + 8192)).toBe(E.SUCCESS)
    expect(g.u32(P + 8192)).toBe(0)
  })

  it('fills a small buffer completely (the signal to retry with more room)', async () => {
    const g = await withInputs()
    expect(g.call.fd_readdir!(IN, P, 30, 0n, P + 8192)).toBe(E.SUCCESS)
    expect(g.u32(P + 8192)).toBe(30)
  })

  it('answers ENOTDIR on a file and EBADF on a closed fd', async () => {
    const g = await withInputs()
    const [, fd] = g.open(IN, 'data.txt')
    expect(g.call.fd_readdir!(fd, P, 100, 0n, P + 200)).toBe(E.NOTDIR)
    expect(g.call.fd_readdir!(77, P, 100, 0n, P + 200)).toBe(E.BADF)
  })
})

describe('WASI path_create_directory / path_remove_directory / path_unlink_file', () => {
  const at = (g: Guest, path: string): [number, number] => g.str(P + 512, path)

  it('makes and removes directories under /out, with EEXIST, ENOTEMPTY, ENOTDIR, ENOENT', async () => {
    const g = await guest()
    expect(g.call.path_create_directory!(OUT, ...at(g, 'd'))).toBe(E.SUCCESS)
    expect(g.call.path_create_directory!(OUT, ...at(g, 'd'))).toBe(E.EXIST)
    expect(g.call.path_create_directory!(OUT, ...at(g, 'd/e'))).toBe(E.SUCCESS)
    expect(g.call.path_create_directory!(OUT, ...at(g, 'x/y'))).toBe(E.NOENT)
    expect(g.call.path_remove_directory!(OUT, ...at(g, 'd'))).toBe(E.NOTEMPTY)
    expect(g.call.path_remove_directory!(OUT, ...at(g, 'd/e'))).toBe(E.SUCCESS)
    g.open(OUT, 'd/f', O.CREAT)
    expect(g.call.path_remove_directory!(OUT, ...at(g, 'd/f'))).toBe(E.NOTDIR)
    expect(g.call.path_remove_directory!(OUT, ...at(g, '.'))).toBe(E.INVAL)
    expect(g.call.path_remove_directory!(OUT, ...at(g, '..'))).toBe(E.NOTEMPTY)
    expect(g.host.outputs().map((o) => o.path)).toEqual(['/out/d/f'])
  })

  it('unlinks files (EISDIR on a directory), and refuses both under /in', async () => {
    const g = await withInputs()
    g.open(OUT, 'f', O.CREAT)
    expect(g.call.path_unlink_file!(OUT, ...at(g, 'f'))).toBe(E.SUCCESS)
    expect(g.call.path_unlink_file!(OUT, ...at(g, 'f'))).toBe(E.NOENT)
    expect(g.call.path_unlink_file!(OUT, ...at(g, '.'))).toBe(E.ISDIR)
    expect(g.call.path_unlink_file!(IN, ...at(g, 'data.txt'))).toBe(E.NOTCAPABLE)
    expect(g.call.path_create_directory!(IN, ...at(g, 'd'))).toBe(E.NOTCAPABLE)
    expect(g.call.path_remove_directory!(IN, ...at(g, 'sub'))).toBe(E.NOTCAPABLE)
    expect(g.host.outputs()).toEqual([])
  })

  it('keeps an unlinked file readable through an open fd, out of the outputs', async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'tmp', O.CREAT)
    g.write(fd, 'scratch')
    g.call.path_unlink_file!(OUT, ...at(g, 'tmp'))
    g.call.fd_seek!(fd, 0n, 0, P)
    expect(g.read(fd, 20)).toEqual([E.SUCCESS, 'scratch'])
    expect(g.host.outputs()).toEqual([])
  })

  it('refuses to create in a directory removed while an fd holds it', async () => {
    const g = await guest()
    g.call.path_create_directory!(OUT, ...at(g, 'd'))
    const [, d] = g.open(OUT, 'd', O.DIRECTORY, RIGHT.PATH_OPEN | RIGHT.PATH_CREATE_FILE)
    expect(d).toBe(5)
    g.call.path_remove_directory!(OUT, ...at(g, 'd'))
    expect(g.open(d, 'f', O.CREAT)[0]).toBe(E.NOENT)
  })
})

describe('WASI path_rename', () => {
  const two = (g: Guest, a: string, b: string): [number, number, number, number] => {
    const [p, l] = g.str(P + 512, a)
    const [q, m] = g.str(P + 1024, b)
    return [p, l, q, m]
  }

  it('renames files and directories, replacing a file, refusing a non-empty directory target', async () => {
    const g = await guest()
    g.write(g.open(OUT, 'a', O.CREAT)[1], 'A')
    g.write(g.open(OUT, 'b', O.CREAT)[1], 'B')
    let [p, l, q, m] = two(g, 'a', 'b')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.SUCCESS)
    expect(g.host.outputs().map((o) => [o.path, new TextDecoder().decode(o.data)])).toEqual([['/out/b', 'A']])
    g.call.path_create_directory!(OUT, ...g.str(P + 512, 'd'))
    g.call.path_create_directory!(OUT, ...g.str(P + 512, 'e'))
    g.open(OUT, 'e/x', O.CREAT);
    [p, l, q, m] = two(g, 'b', 'd/c')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.SUCCESS);
    [p, l, q, m] = two(g, 'd', 'e')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.NOTEMPTY);
    [p, l, q, m] = two(g, 'd', 'd/sub')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.INVAL);
    [p, l, q, m] = two(g, 'd/c', 'e')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.ISDIR);
    [p, l, q, m] = two(g, 'd', 'e/x')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.NOTDIR);
    [p, l, q, m] = two(g, 'd', 'f')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.SUCCESS)
    expect(g.host.outputs().map((o) => o.path)).toEqual(['/out/e/x', '/out/f/c'])
  })

  it('refuses to move out of /in or into it', async () => {
    const g = await withInputs()
    g.open(OUT, 'o', O.CREAT)
    let [p, l, q, m] = two(g, 'data.txt', 'data.txt')
    expect(g.call.path_rename!(IN, p, l, OUT, q, m)).toBe(E.NOTCAPABLE);
    [p, l, q, m] = two(g, 'o', 'o')
    expect(g.call.path_rename!(OUT, p, l, IN, q, m)).toBe(E.NOTCAPABLE)
  })
})

describe('WASI path_link / path_symlink / path_readlink', () => {
  it('has no hard links or symlinks: EPERM to make one, EINVAL to read one, EEXIST/ENOENT first', async () => {
    const g = await withInputs()
    g.open(OUT, 'f', O.CREAT)
    const [p, l] = g.str(P + 512, 'f')
    const [q, m] = g.str(P + 1024, 'g')
    expect(g.call.path_link!(OUT, 0, p, l, OUT, q, m)).toBe(E.PERM)
    expect(g.call.path_link!(OUT, 0, p, l, OUT, p, l)).toBe(E.EXIST)
    expect(g.call.path_link!(OUT, 0, q, m, OUT, p, l)).toBe(E.NOENT)
    expect(g.call.path_symlink!(p, l, OUT, q, m)).toBe(E.PERM)
    expect(g.call.path_symlink!(q, m, OUT, p, l)).toBe(E.EXIST)
    expect(g.call.path_symlink!(p, l, IN, q, m)).toBe(E.NOTCAPABLE)
    expect(g.call.path_readlink!(OUT, p, l, P, 64, P + 100)).toBe(E.INVAL)
    expect(g.call.path_readlink!(OUT, q, m, P, 64, P + 100)).toBe(E.NOENT)
  })
})
