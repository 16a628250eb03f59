/**
 * Every structure of the WASI host a guest can fill has a bound, and each test here hits one:
 * open descriptors (EMFILE), files in /out (the job ends output_limit), directories in /out
 * (ENOSPC), path length under /out (ENAMETOOLONG), path arguments (ENAMETOOLONG), iovec lists
 * (EINVAL), and the bytes of /out counted with stdout/stderr against the output cap.
 */
import { describe, it, expect } from '@jest/globals'
import { guest, E, O } from './wasi-guest.ts'
import { OutputLimitSignal } from '../../services/executor/src/wasi-host.ts'
import { MAX_FDS } from '../../services/executor/src/wasi/fd-table.ts'
import { MAX_OUTPUT_DIRS, MAX_OUTPUT_FILES, MAX_OUTPUT_PATH, MAX_PATH_BYTES } from '../../services/executor/src/wasi/memfs.ts'
import { IOV_MAX } from '../../services/executor/src/wasi/fs-calls.ts'

const OUT = 4
const P = 0x8000

describe('WASI host bounds', () => {
  it(`answers EMFILE past ${MAX_FDS} open descriptors, and frees a number on close`, async () => {
    const g = await guest({ inputs: [{ path: '/in/a', data: new Uint8Array(1) }] })
    let opened = 0
    for (;;) {
      const [errno] = g.open(3, 'a')
      if (errno !== E.SUCCESS) { expect(errno).toBe(E.MFILE); break }
      opened++
    }
    expect(opened + 5).toBe(MAX_FDS)
    expect(g.call.fd_close!(40)).toBe(E.SUCCESS)
    expect(g.open(3, 'a')).toEqual([E.SUCCESS, 40])
  })

  it(`ends the job output_limit at file ${MAX_OUTPUT_FILES + 1} in /out`, async () => {
    const g = await guest()
    for (let i = 0; i < MAX_OUTPUT_FILES; i++) {
      const [errno, fd] = g.open(OUT, `f${i}`, O.CREAT)
      expect(errno).toBe(E.SUCCESS)
      g.call.fd_close!(fd)
    }
    expect(() => g.open(OUT, 'one-more', O.CREAT)).toThrow(OutputLimitSignal)
    expect(g.ended()).toEqual({ kind: 'output_limit', detail: `more than ${MAX_OUTPUT_FILES} output files` })
    expect(g.host.outputs()).toHaveLength(MAX_OUTPUT_FILES)
  })

  it('counts a deleted file out of the file cap', async () => {
    const g = await guest()
    const [p, l] = g.str(P, 'f')
    for (let i = 0; i < MAX_OUTPUT_FILES + 10; i++) {
      g.call.fd_close!(g.open(OUT, 'f', O.CREAT)[1])
      expect(g.call.path_unlink_file!(OUT, p, l)).toBe(E.SUCCESS)
    }
    expect(g.ended()).toBeUndefined()
  })

  it(`answers ENOSPC at directory ${MAX_OUTPUT_DIRS + 1} in /out`, async () => {
    const g = await guest()
    for (let i = 0; i < MAX_OUTPUT_DIRS; i++) expect(g.call.path_create_directory!(OUT, ...g.str(P, `d${i}`))).toBe(E.SUCCESS)
    expect(g.call.path_create_directory!(OUT, ...g.str(P, 'more'))).toBe(E.NOSPC)
    expect(g.call.path_remove_directory!(OUT, ...g.str(P, 'd0'))).toBe(E.SUCCESS)
    expect(g.call.path_create_directory!(OUT, ...g.str(P, 'more'))).toBe(E.SUCCESS)
  })

  it(`answers ENAMETOOLONG for a path under /out longer than ${MAX_OUTPUT_PATH} chars, by create or rename`, async () => {
    const g = await guest()
    const fits = 'x'.repeat(MAX_OUTPUT_PATH - '/out/'.length)
    expect(g.open(OUT, fits, O.CREAT)[0]).toBe(E.SUCCESS)
    expect(g.open(OUT, fits + 'y', O.CREAT)[0]).toBe(E.NAMETOOLONG)
    expect(g.call.path_create_directory!(OUT, ...g.str(P, fits + 'y'))).toBe(E.NAMETOOLONG)
    // A folder renamed to a longer name would push the file inside it past the cap.
    g.call.path_create_directory!(OUT, ...g.str(P, 'd'))
    expect(g.open(OUT, 'd/' + 'z'.repeat(MAX_OUTPUT_PATH - '/out/d/'.length), O.CREAT)[0]).toBe(E.SUCCESS)
    const [p, l] = g.str(P, 'd')
    const [q, m] = g.str(P + 1024, 'dd')
    expect(g.call.path_rename!(OUT, p, l, OUT, q, m)).toBe(E.NAMETOOLONG)
    expect(g.host.outputs().every((o) => o.path.length <= MAX_OUTPUT_PATH)).toBe(true)
  })

  it(`answers ENAMETOOLONG for a path argument over ${MAX_PATH_BYTES} bytes`, async () => {
    const g = await guest()
    expect(g.open(OUT, './'.repeat(MAX_PATH_BYTES / 2) + 'f', O.CREAT)[0]).toBe(E.NAMETOOLONG)
    expect(g.open(OUT, './'.repeat(MAX_PATH_BYTES / 2 - 1) + 'f', O.CREAT)[0]).toBe(E.SUCCESS)
  })

  it(`answers EINVAL for more than ${IOV_MAX} iovecs`, async () => {
    const g = await guest()
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    expect(g.call.fd_write!(fd, 0, IOV_MAX + 1, P)).toBe(E.INVAL)
    expect(g.call.fd_read!(0, 0, IOV_MAX + 1, P)).toBe(E.INVAL)
  })

  it('counts file bytes with stdout against the output cap, and ends the job on the byte past it', async () => {
    const g = await guest({ outputBytes: 100 })
    g.write(1, 'x'.repeat(60))
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    expect(g.write(fd, 'y'.repeat(40))).toEqual([E.SUCCESS, 40])
    // Overwriting in place costs nothing.
    g.call.fd_seek!(fd, 0n, 0, P)
    expect(g.write(fd, 'z'.repeat(40))).toEqual([E.SUCCESS, 40])
    expect(() => g.write(fd, 'w')).toThrow(OutputLimitSignal)
    expect(g.ended()).toMatchObject({ kind: 'output_limit' })
    expect(g.host.outputs()[0]!.data.byteLength).toBe(40)
  })

  it('gives back the bytes of a truncated or deleted file', async () => {
    const g = await guest({ outputBytes: 100 })
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    g.write(fd, 'y'.repeat(100))
    expect(g.call.fd_filestat_set_size!(fd, 0n)).toBe(E.SUCCESS)
    g.call.fd_seek!(fd, 0n, 0, P)
    g.write(fd, 'y'.repeat(100))
    g.call.fd_close!(fd)
    expect(g.call.path_unlink_file!(OUT, ...g.str(P, 'f'))).toBe(E.SUCCESS)
    expect(g.write(1, 'x'.repeat(100))).toEqual([E.SUCCESS, 100])
    expect(g.ended()).toBeUndefined()
  })

  it('keeps counting a deleted file while an fd holds it', async () => {
    const g = await guest({ outputBytes: 100 })
    const [, fd] = g.open(OUT, 'f', O.CREAT)
    g.write(fd, 'y'.repeat(80))
    g.call.path_unlink_file!(OUT, ...g.str(P, 'f'))
    expect(() => g.write(1, 'x'.repeat(21))).toThrow(OutputLimitSignal)
  })

  it('ends the job output_limit for a sparse write, set_size or allocate far past the cap, without allocating it', async () => {
    for (const grow of [
      (g: Awaited<ReturnType<typeof guest>>, fd: number) => { g.iovs(P, [[P + 64, 1]]); g.call.fd_pwrite!(fd, P, 1, 1n << 40n, P + 32) },
      (g: Awaited<ReturnType<typeof guest>>, fd: number) => g.call.fd_filestat_set_size!(fd, 1n << 40n),
      (g: Awaited<ReturnType<typeof guest>>, fd: number) => g.call.fd_allocate!(fd, 0n, 1n << 40n)
    ]) {
      const g = await guest({ outputBytes: 1 << 20 })
      const [, fd] = g.open(OUT, 'f', O.CREAT)
      expect(() => grow(g, fd)).toThrow(OutputLimitSignal)
      expect(g.host.outputs()[0]!.data.byteLength).toBe(0)
    }
  })
})
