/**
 * Our own WASI preview1 host (never `node:wasi`, which lets a guest close the host's file
 * descriptors and cannot cap output). This file assembles it: args, env, stdin, capped
 * stdout/stderr, clocks, randomness, exit, poll and sched_yield here; files and directories in
 * `wasi/` (the preopens `/in`, read-only, and `/out`, in memory); no sockets (`sock_*` on a
 * descriptor is ENOTSOCK, on a closed one EBADF), and any other import ENOSYS.
 *
 * The host keeps its own record of how the job ended (exit called with code N, output cap hit):
 * a guest can catch the unwinding with wasm exception handling (`catch_all`, `try_table`), so
 * the status never depends on whether the unwinding reached the top. Once ended, every further
 * host call unwinds again.
 *
 * Clocks are coarsened to 100 µs (CLOCK_RESOLUTION_NS): jobs of different clients share a
 * process, and a nanosecond clock is the first tool of a timing side channel. (A guest can still
 * count loop iterations; coarse clocks only blunt the cheap attacks.) The clock, randomness and
 * sleep can be replaced (`WasiProviders`), e.g. by a deterministic profile.
 * Spec: https://github.com/WebAssembly/WASI/blob/main/legacy/preview1/docs.md
 */
import { getRandomValues } from 'node:crypto'
import { EBADF, EFAULT, EINVAL, ENOSYS, ENOTSOCK, ESUCCESS } from './wasi/constants.ts'
import { createFsCalls, type GuestMemory } from './wasi/fs-calls.ts'
import { FdTable } from './wasi/fd-table.ts'
import { isErrno, MemFs, OutputCapError, type InputFile } from './wasi/memfs.ts'
import { createPoll, sleepThread } from './wasi/poll.ts'

/** Resolution of every clock a guest can read (ns): 100 µs. */
export const CLOCK_RESOLUTION_NS = 100_000n

/** Thrown by proc_exit to unwind the guest. */
export class ExitSignal {
  readonly code: number
  constructor (code: number) { this.code = code }
}

/** Thrown when stdout + stderr + /out pass the cap. */
export class OutputLimitSignal {}

/** How the job ended, as the host saw it; undefined while it runs. */
export type HostEnd = { kind: 'exit', code: number } | { kind: 'output_limit', detail?: string }

export interface WasiJob {
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  /** Cap on stdout + stderr + the bytes of the files in /out. */
  outputBytes: number
  /** Files the guest sees read-only under /in (`path` is `/in/<rel>`). */
  inputs?: readonly InputFile[]
}

/** Replaceable sources of time and chance (defaults: the host's, clocks coarsened). */
export interface WasiProviders {
  /** The time of clock `clockId` (0 realtime, 1 monotonic, 2 process CPU, 3 thread CPU), ns. */
  clockNs?: (clockId: number) => bigint
  /** What clock_res_get answers. Default: CLOCK_RESOLUTION_NS (1 ns when clockNs is given). */
  clockResNs?: bigint
  /** Fills `buf` with random bytes. */
  randomFill?: (buf: Uint8Array) => void
  /** Blocks for `ns` (poll_oneoff with only clocks). Default: the thread sleeps. */
  sleepNs?: (ns: bigint) => void
}

export interface WasiHost {
  imports: Record<string, (...args: never[]) => number | undefined>
  bindMemory: (memory: WebAssembly.Memory) => void
  /** The host's own record of the end (exit code, output cap): decides the status. */
  end: () => HostEnd | undefined
  stdout: () => Uint8Array
  stderr: () => Uint8Array
  /** Regular files under /out, sorted by path. */
  outputs: () => Array<{ path: string, data: Uint8Array }>
}

const encoder = new TextEncoder()

function hostClockNs (id: number): bigint {
  // Realtime (0) from the wall clock, the others from the monotonic clock; all cut to 100 µs.
  const ns = id === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint()
  return ns - ns % CLOCK_RESOLUTION_NS
}

function hostRandomFill (buf: Uint8Array): void {
  // getRandomValues takes at most 65,536 bytes at a time.
  for (let o = 0; o < buf.byteLength; o += 65536) getRandomValues(buf.subarray(o, Math.min(buf.byteLength, o + 65536)))
}

/**
 * `onEnd` is called once, inside the host call that ends the job (proc_exit, output cap), before
 * the unwinding starts: the caller can report the outcome even if the guest then catches the
 * unwinding and never returns.
 */
export function createWasiHost (job: WasiJob, importNames: readonly string[], onEnd: (end: HostEnd) => void = () => {}, providers: WasiProviders = {}): WasiHost {
  const clockNs = providers.clockNs ?? hostClockNs
  const clockResNs = providers.clockResNs ?? (providers.clockNs !== undefined ? 1n : CLOCK_RESOLUTION_NS)
  const randomFill = providers.randomFill ?? hostRandomFill
  let memory: WebAssembly.Memory | undefined
  const mem: GuestMemory = {
    view: () => new DataView(memory!.buffer),
    bytes: () => new Uint8Array(memory!.buffer)
  }
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
  const capDetail = (): string => `output passed the cap of ${job.outputBytes} bytes`

  const fs = new MemFs(job.inputs ?? [], {
    charge (bytes) {
      if (bytes > outputLeft) endWith({ kind: 'output_limit', detail: capDetail() })
      outputLeft -= bytes
    },
    refund (bytes) { outputLeft += bytes }
  }, () => clockNs(0))
  const fds = new FdTable(fs)
  const fsCalls = createFsCalls(mem, fs, fds, {
    readStdin (dst) {
      const chunk = job.stdin.subarray(stdinPos, stdinPos + dst.byteLength)
      dst.set(chunk)
      stdinPos += chunk.byteLength
      return chunk.byteLength
    },
    write (fd, src) {
      // What fits goes out, then the job ends: the client sees output up to the cap.
      const take = Math.min(src.byteLength, outputLeft)
      out[fd - 1]!.push(take === src.byteLength ? src : src.slice(0, take))
      outputLeft -= take
      if (take < src.byteLength) endWith({ kind: 'output_limit', detail: capDetail() })
      return take
    }
  }, () => clockNs(0))

  const sizes = (list: Uint8Array[]) => (countPtr: number, sizePtr: number): number => {
    mem.view().setUint32(countPtr, list.length, true)
    mem.view().setUint32(sizePtr, list.reduce((n, s) => n + s.byteLength, 0), true)
    return ESUCCESS
  }
  const fill = (list: Uint8Array[]) => (ptrs: number, buf: number): number => {
    const v = mem.view()
    const b = mem.bytes()
    for (let i = 0; i < list.length; i++) {
      v.setUint32(ptrs + i * 4, buf, true)
      b.set(list[i]!, buf)
      buf += list[i]!.byteLength
    }
    return ESUCCESS
  }
  /** No sockets: a live descriptor is not one (ENOTSOCK), a closed one is EBADF. */
  const noSocket = (fd: number): number => isErrno(fds.get(fd)) ? EBADF : ENOTSOCK

  const impl: Record<string, (...args: any[]) => number | undefined> = { // eslint-disable-line @typescript-eslint/no-explicit-any
    ...fsCalls,
    args_sizes_get: sizes(argv),
    args_get: fill(argv),
    environ_sizes_get: sizes(environ),
    environ_get: fill(environ),
    clock_res_get (id: number, ptr: number): number {
      if (id > 3) return EINVAL
      mem.view().setBigUint64(ptr, clockResNs, true)
      return ESUCCESS
    },
    clock_time_get (id: number, _precision: bigint, ptr: number): number {
      if (id > 3) return EINVAL
      mem.view().setBigUint64(ptr, clockNs(id), true)
      return ESUCCESS
    },
    random_get (buf: number, len: number): number {
      const b = mem.bytes()
      if (buf + len > b.byteLength) return EFAULT
      randomFill(b.subarray(buf, buf + len))
      return ESUCCESS
    },
    poll_oneoff: createPoll(mem, {
      fds,
      clockNs,
      sleepNs: providers.sleepNs ?? sleepThread,
      stdinLeft: () => job.stdin.byteLength - stdinPos,
      outputLeft: () => outputLeft
    }),
    proc_exit (code: number): undefined {
      // The WASI exit code is a u32: 0xFFFFFFFF is 4294967295, not -1.
      return endWith({ kind: 'exit', code })
    },
    // Signals are not part of this model (wasi-libc no longer calls it).
    proc_raise: () => ENOSYS,
    sched_yield: () => ESUCCESS,
    sock_accept: noSocket,
    sock_recv: noSocket,
    sock_send: noSocket,
    sock_shutdown: noSocket
  }

  const imports: WasiHost['imports'] = {}
  for (const name of importNames) {
    const fn = Object.hasOwn(impl, name) ? impl[name] : undefined
    imports[name] = fn === undefined
      ? () => ENOSYS
      : (...args: never[]) => {
          // A guest that caught the unwinding of proc_exit or of the output cap gets it again.
          if (ended !== undefined) endWith(ended)
          // wasm i32 arrive as signed JS numbers: read every pointer, length and code as the u32
          // WASI means (a "negative" pointer must not index from the end of memory); i64 as u64.
          const raw = args as unknown[]
          for (let i = 0; i < raw.length; i++) {
            if (typeof raw[i] === 'number') raw[i] = (raw[i] as number) >>> 0
            else if (typeof raw[i] === 'bigint') raw[i] = BigInt.asUintN(64, raw[i] as bigint)
          }
          try {
            return fn(...args)
          } catch (err) {
            if (err instanceof OutputCapError) return endWith({ kind: 'output_limit', detail: err.message })
            // Guest pointers out of bounds surface as RangeError from DataView/TypedArray:
            // EFAULT, not a host crash. Running out of stack is the guest's trap, not EFAULT.
            if (err instanceof RangeError && !err.message.includes('call stack')) return EFAULT
            throw err
          }
        }
  }
  return {
    imports,
    bindMemory: (m) => { memory = m },
    end: () => ended,
    stdout: () => out[0]!.join(),
    stderr: () => out[1]!.join(),
    outputs: () => fs.outputs()
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
