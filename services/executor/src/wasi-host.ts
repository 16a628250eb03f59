/**
 * Our own small WASI preview1 host (never `node:wasi`, which lets a guest close the host's file
 * descriptors and cannot cap output). It gives a guest args, env, stdin, capped stdout/stderr,
 * clocks, randomness and exit — nothing else: no preopened folders, so every path and socket
 * call fails with ENOTCAPABLE, and unknown calls with ENOSYS.
 *
 * The host keeps its own record of how the job ended (exit called with code N, output cap hit):
 * a guest can catch the unwinding with wasm exception handling (`catch_all`, `try_table`), so
 * the status never depends on whether the unwinding reached the top. Once ended, every further
 * host call unwinds again.
 *
 * Clocks are coarsened to 100 µs (CLOCK_RESOLUTION_NS): jobs of different clients share a
 * process, and a nanosecond clock is the first tool of a timing side channel. (A guest can still
 * count loop iterations; coarse clocks only blunt the cheap attacks.)
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
/** Resolution of every clock a guest can read (ns): 100 µs. */
export const CLOCK_RESOLUTION_NS = 100_000n

/** Thrown by proc_exit to unwind the guest. */
export class ExitSignal {
  readonly code: number
  constructor (code: number) { this.code = code }
}

/** Thrown by fd_write when stdout + stderr pass the cap. */
export class OutputLimitSignal {}

/** How the job ended, as the host saw it; undefined while it runs. */
export type HostEnd = { kind: 'exit', code: number } | { kind: 'output_limit' }

export interface WasiJob {
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  outputBytes: number
}

/**
 * Where clocks and randomness come from, when not the real ones (the deterministic profile: a
 * virtual clock and a seeded stream). A clock given here is not coarsened and has resolution 1 ns.
 */
export interface WasiProviders {
  /** The time of clock `clockId` (0 realtime, 1 monotonic, 2 process, 3 thread) in ns. */
  clockNs?: (clockId: number) => bigint
  /** Fills `buf` with random bytes. */
  randomFill?: (buf: Uint8Array) => void
}

export interface WasiHost {
  imports: Record<string, (...args: never[]) => number | undefined>
  bindMemory: (memory: WebAssembly.Memory) => void
  /** The host's own record of the end (exit code, output cap): decides the status. */
  end: () => HostEnd | undefined
  stdout: () => Uint8Array
  stderr: () => Uint8Array
}

const encoder = new TextEncoder()

/**
 * `onEnd` is called once, inside the host call that ends the job (proc_exit, output cap), before
 * the unwinding starts: the caller can report the outcome even if the guest then catches the
 * unwinding and never returns.
 */
export function createWasiHost (job: WasiJob, importNames: readonly string[], onEnd: (end: HostEnd) => void = () => {}, providers: WasiProviders = {}): WasiHost {
  let memory: WebAssembly.Memory | undefined
  const view = (): DataView => new DataView(memory!.buffer)
  const bytes = (): Uint8Array => new Uint8Array(memory!.buffer)
  const argv = ['main.wasm', ...job.args].map((a) => encoder.encode(`${a}\0`))
  const environ = Object.entries(job.env).map(([k, v]) => encoder.encode(`${k}=${v}\0`))
  const out = [new Chunks(), new Chunks()]
  let outputLeft = job.outputBytes
  let stdinPos = 0
  let ended: HostEnd | undefined
  const endWith = (end: HostEnd): never => {
    if (ended === undefined) { ended = end; onEnd(end) }
    throw ended.kind === 'exit' ? new ExitSignal(ended.code) : new OutputLimitSignal()
  }

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
        if (take < len) endWith({ kind: 'output_limit' })
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
    clock_res_get (id: number, ptr: number): number {
      if (id > 3) return EINVAL
      view().setBigUint64(ptr, providers.clockNs !== undefined ? 1n : CLOCK_RESOLUTION_NS, true)
      return ESUCCESS
    },
    clock_time_get (id: number, _precision: bigint, ptr: number): number {
      if (id > 3) return EINVAL
      if (providers.clockNs !== undefined) { view().setBigUint64(ptr, providers.clockNs(id), true); return ESUCCESS }
      // Realtime (0) from the wall clock, the others from the monotonic clock; all cut to 100 µs.
      const ns = id === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint()
      view().setBigUint64(ptr, ns - ns % CLOCK_RESOLUTION_NS, true)
      return ESUCCESS
    },
    random_get (buf: number, len: number): number {
      const b = bytes()
      if (buf + len > b.byteLength) return EFAULT
      if (providers.randomFill !== undefined) { providers.randomFill(b.subarray(buf, buf + len)); return ESUCCESS }
      for (let o = 0; o < len; o += 65536) getRandomValues(b.subarray(buf + o, buf + Math.min(len, o + 65536)))
      return ESUCCESS
    },
    proc_exit (code: number): undefined {
      // The WASI exit code is a u32: 0xFFFFFFFF is 4294967295, not -1.
      return endWith({ kind: 'exit', code })
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
          // A guest that caught the unwinding of proc_exit or of the output cap gets it again.
          if (ended !== undefined) endWith(ended)
          // wasm i32 arrive as signed JS numbers: read every pointer, length and code as the u32
          // WASI means (a "negative" pointer must not index from the end of memory).
          const raw = args as unknown[]
          for (let i = 0; i < raw.length; i++) if (typeof raw[i] === 'number') raw[i] = (raw[i] as number) >>> 0
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
    end: () => ended,
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
