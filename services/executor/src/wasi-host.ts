/**
 * Our own small WASI preview1 host (never `node:wasi`, which lets a guest close the host's file
 * descriptors and cannot cap output). It gives a guest args, env, stdin, capped stdout/stderr,
 * clocks, randomness and exit — nothing else: no preopened folders, so every path and socket
 * call fails with ENOTCAPABLE, and unknown calls with ENOSYS.
 * Spec: https://github.com/WebAssembly/WASI/blob/main/legacy/preview1/docs.md
 */
import { getRandomValues } from 'node:crypto'

const ESUCCESS = 0
const EBADF = 8
const EFAULT = 21
const EINVAL = 28
const ENOSYS = 52
const ESPIPE = 70
const ENOTCAPABLE = 76
const IOV_MAX = 1024
const FILETYPE_CHARACTER_DEVICE = 2

/** Thrown by proc_exit to unwind the guest. */
export class ExitSignal {
  readonly code: number
  constructor (code: number) { this.code = code }
}

/** Thrown by fd_write when stdout + stderr pass the cap. */
export class OutputLimitSignal {}

export interface WasiJob {
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  outputBytes: number
}

export interface WasiHost {
  imports: Record<string, (...args: never[]) => number | undefined>
  bindMemory: (memory: WebAssembly.Memory) => void
  stdout: () => Uint8Array
  stderr: () => Uint8Array
}

const encoder = new TextEncoder()

export function createWasiHost (job: WasiJob, importNames: readonly string[]): WasiHost {
  let memory: WebAssembly.Memory | undefined
  const view = (): DataView => new DataView(memory!.buffer)
  const bytes = (): Uint8Array => new Uint8Array(memory!.buffer)
  const argv = ['main.wasm', ...job.args].map((a) => encoder.encode(`${a}\0`))
  const environ = Object.entries(job.env).map(([k, v]) => encoder.encode(`${k}=${v}\0`))
  const out = [new Chunks(), new Chunks()]
  let outputLeft = job.outputBytes
  let stdinPos = 0

  const sizes = (list: Uint8Array[]) => (countPtr: number, sizePtr: number): number => {
    view().setUint32(countPtr, list.length, true)
    view().setUint32(sizePtr, list.reduce((n, s) => n + s.byteLength, 0), true)
    return ESUCCESS
  }
  const fill = (list: Uint8Array[]) => (ptrs: number, buf: number): number => {
    const v = view()
    const b = bytes()
    for (let i = 0; i < list.length; i++) {
      v.setUint32(ptrs + i * 4, buf, true)
      b.set(list[i]!, buf)
      buf += list[i]!.byteLength
    }
    return ESUCCESS
  }

  const impl: Record<string, (...args: any[]) => number | undefined> = { // eslint-disable-line @typescript-eslint/no-explicit-any
    args_sizes_get: sizes(argv),
    args_get: fill(argv),
    environ_sizes_get: sizes(environ),
    environ_get: fill(environ),
    fd_write (fd: number, iovs: number, iovsLen: number, nwritten: number): number {
      if (fd !== 1 && fd !== 2) return EBADF
      if (iovsLen > IOV_MAX) return EINVAL
      const v = view()
      const b = bytes()
      let written = 0
      for (let i = 0; i < iovsLen; i++) {
        const ptr = v.getUint32(iovs + i * 8, true)
        const len = v.getUint32(iovs + i * 8 + 4, true)
        if (ptr + len > b.byteLength) return EFAULT
        const take = Math.min(len, outputLeft)
        out[fd - 1]!.push(b.slice(ptr, ptr + take))
        outputLeft -= take
        written += take
        if (take < len) throw new OutputLimitSignal()
      }
      v.setUint32(nwritten, written, true)
      return ESUCCESS
    },
    fd_read (fd: number, iovs: number, iovsLen: number, nread: number): number {
      if (fd !== 0) return EBADF
      if (iovsLen > IOV_MAX) return EINVAL
      const v = view()
      const b = bytes()
      let read = 0
      for (let i = 0; i < iovsLen && stdinPos < job.stdin.byteLength; i++) {
        const ptr = v.getUint32(iovs + i * 8, true)
        const len = v.getUint32(iovs + i * 8 + 4, true)
        if (ptr + len > b.byteLength) return EFAULT
        const chunk = job.stdin.subarray(stdinPos, stdinPos + len)
        b.set(chunk, ptr)
        stdinPos += chunk.byteLength
        read += chunk.byteLength
      }
      v.setUint32(nread, read, true)
      return ESUCCESS
    },
    fd_fdstat_get (fd: number, ptr: number): number {
      if (fd > 2) return EBADF
      const v = view()
      v.setUint8(ptr, FILETYPE_CHARACTER_DEVICE)
      v.setUint16(ptr + 2, 0, true)
      // Rights: fd_read (bit 1) on stdin, fd_write (bit 6) on stdout/stderr.
      v.setBigUint64(ptr + 8, fd === 0 ? 2n : 64n, true)
      v.setBigUint64(ptr + 16, 0n, true)
      return ESUCCESS
    },
    // No preopened folders: libc learns there is no filesystem at all.
    fd_prestat_get: () => EBADF,
    fd_prestat_dir_name: () => EBADF,
    fd_close: (fd: number) => fd <= 2 ? ESUCCESS : EBADF,
    fd_seek: (fd: number) => fd <= 2 ? ESPIPE : EBADF,
    clock_res_get (_id: number, ptr: number): number {
      view().setBigUint64(ptr, 1000n, true)
      return ESUCCESS
    },
    clock_time_get (id: number, _precision: bigint, ptr: number): number {
      if (id > 3) return EINVAL
      const ns = id === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint()
      view().setBigUint64(ptr, ns, true)
      return ESUCCESS
    },
    random_get (buf: number, len: number): number {
      const b = bytes()
      if (buf + len > b.byteLength) return EFAULT
      for (let o = 0; o < len; o += 65536) getRandomValues(b.subarray(buf + o, buf + Math.min(len, o + 65536)))
      return ESUCCESS
    },
    proc_exit (code: number): undefined {
      throw new ExitSignal(code >>> 0)
    },
    sched_yield: () => ESUCCESS
  }

  const imports: WasiHost['imports'] = {}
  for (const name of importNames) {
    const fn = impl[name]
    const denied = name.startsWith('path_') || name.startsWith('sock_') || name.startsWith('fd_') ? ENOTCAPABLE : ENOSYS
    imports[name] = fn === undefined
      ? () => denied
      : (...args: never[]) => {
          try {
            return fn(...args)
          } catch (err) {
            // Guest pointers out of bounds surface as RangeError from DataView: EFAULT, not a host crash.
            if (err instanceof RangeError) return EFAULT
            throw err
          }
        }
  }
  return {
    imports,
    bindMemory: (m) => { memory = m },
    stdout: () => out[0]!.join(),
    stderr: () => out[1]!.join()
  }
}

class Chunks {
  private parts: Uint8Array[] = []
  private size = 0
  push (b: Uint8Array): void { if (b.byteLength > 0) { this.parts.push(b); this.size += b.byteLength } }
  join (): Uint8Array {
    const out = new Uint8Array(this.size)
    let o = 0
    for (const p of this.parts) { out.set(p, o); o += p.byteLength }
    return out
  }
}
