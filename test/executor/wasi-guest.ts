/**
 * A guest for WASI conformance tests: one WAT module importing every preview1 function with its
 * spec signature and exporting a wasm wrapper `call.<name>` for each, so a test calls the host
 * through real wasm (i32 sign, i64 as BigInt, traps) with the arguments it chooses and reads the
 * results from the guest's memory. The host is the real one (`createWasiHost`), on this thread.
 */
import { createWasiHost, ExitSignal, type WasiHost, type WasiJob, type WasiProviders, type HostEnd } from '../../services/executor/src/wasi-host.ts'
import { compileWat } from '../helpers/wat.ts'

/** Every preview1 import: name → params (all return an errno except proc_exit). */
export const PREVIEW1: Record<string, string[]> = {
  args_get: ['i32', 'i32'],
  args_sizes_get: ['i32', 'i32'],
  environ_get: ['i32', 'i32'],
  environ_sizes_get: ['i32', 'i32'],
  clock_res_get: ['i32', 'i32'],
  clock_time_get: ['i32', 'i64', 'i32'],
  fd_advise: ['i32', 'i64', 'i64', 'i32'],
  fd_allocate: ['i32', 'i64', 'i64'],
  fd_close: ['i32'],
  fd_datasync: ['i32'],
  fd_fdstat_get: ['i32', 'i32'],
  fd_fdstat_set_flags: ['i32', 'i32'],
  fd_fdstat_set_rights: ['i32', 'i64', 'i64'],
  fd_filestat_get: ['i32', 'i32'],
  fd_filestat_set_size: ['i32', 'i64'],
  fd_filestat_set_times: ['i32', 'i64', 'i64', 'i32'],
  fd_pread: ['i32', 'i32', 'i32', 'i64', 'i32'],
  fd_prestat_get: ['i32', 'i32'],
  fd_prestat_dir_name: ['i32', 'i32', 'i32'],
  fd_pwrite: ['i32', 'i32', 'i32', 'i64', 'i32'],
  fd_read: ['i32', 'i32', 'i32', 'i32'],
  fd_readdir: ['i32', 'i32', 'i32', 'i64', 'i32'],
  fd_renumber: ['i32', 'i32'],
  fd_seek: ['i32', 'i64', 'i32', 'i32'],
  fd_sync: ['i32'],
  fd_tell: ['i32', 'i32'],
  fd_write: ['i32', 'i32', 'i32', 'i32'],
  path_create_directory: ['i32', 'i32', 'i32'],
  path_filestat_get: ['i32', 'i32', 'i32', 'i32', 'i32'],
  path_filestat_set_times: ['i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32'],
  path_link: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  path_open: ['i32', 'i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32', 'i32'],
  path_readlink: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  path_remove_directory: ['i32', 'i32', 'i32'],
  path_rename: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  path_symlink: ['i32', 'i32', 'i32', 'i32', 'i32'],
  path_unlink_file: ['i32', 'i32', 'i32'],
  poll_oneoff: ['i32', 'i32', 'i32', 'i32'],
  proc_exit: ['i32'],
  proc_raise: ['i32'],
  random_get: ['i32', 'i32'],
  sched_yield: [],
  sock_accept: ['i32', 'i32', 'i32'],
  sock_recv: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  sock_send: ['i32', 'i32', 'i32', 'i32', 'i32'],
  sock_shutdown: ['i32', 'i32']
}

const W = '"wasi_snapshot_preview1"'
let compiled: WebAssembly.Module | undefined

async function guestModule (): Promise<WebAssembly.Module> {
  if (compiled !== undefined) return compiled
  const entries = Object.entries(PREVIEW1)
  const result = (n: string): string => n === 'proc_exit' ? '' : '(result i32)'
  const wat = `(module
    ${entries.map(([n, p]) => `(import ${W} "${n}" (func $${n} (param ${p.join(' ')}) ${result(n)}))`).join('\n')}
    (memory (export "memory") 2)
    ${entries.map(([n, p]) => `(func (export "${n}") (param ${p.join(' ')}) ${result(n)} (call $${n} ${p.map((_, i) => `(local.get ${i})`).join(' ')}))`).join('\n')}
    (func (export "_start")))`
  compiled = await WebAssembly.compile(new Uint8Array(await compileWat(wat, 'wasi-guest.wat')))
  return compiled
}

type Arg = number | bigint
export interface Guest {
  /** The wasm wrapper of each preview1 function (numbers for i32, BigInt for i64). */
  call: Record<string, (...args: Arg[]) => number>
  host: WasiHost
  ended: () => HostEnd | undefined
  view: () => DataView
  bytes: () => Uint8Array
  /** Writes `s` (UTF-8) at `ptr`; returns [ptr, byte length]. */
  str: (ptr: number, s: string | Uint8Array) => [number, number]
  /** Reads `len` bytes at `ptr` as text. */
  text: (ptr: number, len: number) => string
  u32: (ptr: number) => number
  u64: (ptr: number) => bigint
  /** Writes an iovec list at `at` pointing to [ptr, len] pairs. */
  iovs: (at: number, list: Array<[number, number]>) => void
  /** path_open relative to `dirFd`; returns [errno, fd]. */
  open: (dirFd: number, path: string, oflags?: number, rights?: bigint, fdflags?: number) => [number, number]
  /** Writes `data` to `fd` (fd_write); returns [errno, bytes written]. */
  write: (fd: number, data: string | Uint8Array) => [number, number]
  /** Reads up to `len` bytes from `fd` (fd_read); returns [errno, text]. */
  read: (fd: number, len: number) => [number, string]
}

export interface GuestJob extends Partial<WasiJob> { providers?: WasiProviders }

/** Scratch areas of the guest's memory the helpers use (tests use 0x8000 and up). */
const PATH = 0x1000
const IOV = 0x2000
const OUT = 0x2100
const DATA = 0x3000

export async function guest (job: GuestJob = {}): Promise<Guest> {
  const module = await guestModule()
  let endSeen: HostEnd | undefined
  const host = createWasiHost({ args: [], env: {}, stdin: new Uint8Array(), outputBytes: 1 << 20, ...job }, Object.keys(PREVIEW1), (e) => { endSeen = e }, job.providers)
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: host.imports })
  const memory = instance.exports.memory as WebAssembly.Memory
  host.bindMemory(memory)
  const call = instance.exports as unknown as Guest['call']
  const g: Guest = {
    call,
    host,
    ended: () => endSeen,
    view: () => new DataView(memory.buffer),
    bytes: () => new Uint8Array(memory.buffer),
    str (ptr, s) {
      const b = typeof s === 'string' ? new TextEncoder().encode(s) : s
      g.bytes().set(b, ptr)
      return [ptr, b.byteLength]
    },
    text: (ptr, len) => new TextDecoder().decode(g.bytes().slice(ptr, ptr + len)),
    u32: (ptr) => g.view().getUint32(ptr, true),
    u64: (ptr) => g.view().getBigUint64(ptr, true),
    iovs (at, list) {
      list.forEach(([p, l], i) => { g.view().setUint32(at + i * 8, p, true); g.view().setUint32(at + i * 8 + 4, l, true) })
    },
    open (dirFd, path, oflags = 0, rights = -1n, fdflags = 0) {
      const [p, l] = g.str(PATH, path)
      const errno = call.path_open!(dirFd, 1, p, l, oflags, rights, rights, fdflags, OUT)
      return [errno, errno === 0 ? g.u32(OUT) : -1]
    },
    write (fd, data) {
      const [p, l] = g.str(DATA, data)
      g.iovs(IOV, [[p, l]])
      const errno = call.fd_write!(fd, IOV, 1, OUT)
      return [errno, errno === 0 ? g.u32(OUT) : -1]
    },
    read (fd, len) {
      g.iovs(IOV, [[DATA, len]])
      const errno = call.fd_read!(fd, IOV, 1, OUT)
      return [errno, errno === 0 ? g.text(DATA, g.u32(OUT)) : '']
    }
  }
  return g
}

/** Runs `fn` and returns the code proc_exit unwound with (or throws what else it threw). */
export function exitCode (fn: () => unknown): number {
  try { fn() } catch (err) { if (err instanceof ExitSignal) return err.code; throw err }
  throw new Error('did not exit')
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

/** WASI errno values the tests name. */
export const E = {
  SUCCESS: 0, ACCES: 2, BADF: 8, EXIST: 20, FAULT: 21, ILSEQ: 25, INVAL: 28, ISDIR: 31, MFILE: 33, NAMETOOLONG: 37, NOENT: 44,
  NOSPC: 51, NOSYS: 52, NOTDIR: 54, NOTEMPTY: 55, NOTSOCK: 57, OVERFLOW: 61, PERM: 63, SPIPE: 70, NOTCAPABLE: 76
} as const

export const O = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const
