/**
 * poll_oneoff: fd subscriptions answer at once (stdin is a fixed buffer, always readable, with
 * HANGUP once drained; stdout, stderr and open files are always writable), and only when no fd
 * is ready does the call sleep, until the earliest clock subscription. A sleep is bounded by the
 * job's wall-time limit: the pool stops the worker then, as for any other guest code.
 * Layouts: subscription 48 bytes (userdata u64 @0, tag u8 @8, clock: id u32 @16, timeout u64
 * @24, precision u64 @32, flags u16 @40; fd_readwrite: fd u32 @16); event 32 bytes (userdata
 * @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24).
 */
import { EBADF, EFAULT, EINVAL, ENOTCAPABLE, ESUCCESS, EVENT_SIZE, EVENTTYPE_CLOCK, EVENTTYPE_FD_READ, EVENTTYPE_FD_WRITE, RIGHT, SUBCLOCKFLAGS_ABSTIME, SUBSCRIPTION_SIZE } from './constants.ts'
import { isErrno } from './memfs.ts'
import type { FdTable } from './fd-table.ts'
import type { GuestMemory } from './fs-calls.ts'

const FD_READWRITE_HANGUP = 1

export interface PollSources {
  fds: FdTable
  clockNs: (id: number) => bigint
  sleepNs: (ns: bigint) => void
  stdinLeft: () => number
  outputLeft: () => number
}

interface Event { userdata: bigint, error: number, type: number, nbytes: bigint, flags: number }

export function createPoll (mem: GuestMemory, src: PollSources) {
  /** The event of one fd subscription, answered now. */
  const fdEvent = (userdata: bigint, type: number, fd: number): Event => {
    const e = src.fds.get(fd)
    const ev: Event = { userdata, error: ESUCCESS, type, nbytes: 0n, flags: 0 }
    if (isErrno(e)) return { ...ev, error: e }
    const t = e.target
    if ((e.rightsBase & RIGHT.POLL_FD_READWRITE) === 0n && t.kind !== 'dir') return { ...ev, error: ENOTCAPABLE }
    if (type === EVENTTYPE_FD_READ) {
      if (t.kind === 'stdin') {
        const left = src.stdinLeft()
        return { ...ev, nbytes: BigInt(left), flags: left === 0 ? FD_READWRITE_HANGUP : 0 }
      }
      if (t.kind === 'file' && (e.rightsBase & RIGHT.FD_READ) !== 0n) return { ...ev, nbytes: BigInt(Math.max(0, t.node.size - e.pos)) }
    } else {
      if (t.kind === 'stdout' || t.kind === 'stderr') return { ...ev, nbytes: BigInt(src.outputLeft()) }
      if (t.kind === 'file' && (e.rightsBase & RIGHT.FD_WRITE) !== 0n) return { ...ev, nbytes: BigInt(src.outputLeft()) }
    }
    return { ...ev, error: EBADF }
  }

  return function poll_oneoff (inPtr: number, outPtr: number, nsubs: number, neventsPtr: number): number {
    if (nsubs === 0) return EINVAL
    const v = mem.view()
    if (inPtr + nsubs * SUBSCRIPTION_SIZE > v.byteLength || outPtr + nsubs * EVENT_SIZE > v.byteLength) return EFAULT
    const ready: Event[] = []
    const clocks: Array<{ userdata: bigint, waitNs: bigint }> = []
    for (let i = 0; i < nsubs; i++) {
      const s = inPtr + i * SUBSCRIPTION_SIZE
      const userdata = v.getBigUint64(s, true)
      const tag = v.getUint8(s + 8)
      if (tag === EVENTTYPE_CLOCK) {
        const id = v.getUint32(s + 16, true)
        const timeout = v.getBigUint64(s + 24, true)
        const flags = v.getUint16(s + 40, true)
        if (id > 3) { ready.push({ userdata, error: EINVAL, type: tag, nbytes: 0n, flags: 0 }); continue }
        const waitNs = (flags & SUBCLOCKFLAGS_ABSTIME) !== 0 ? timeout - src.clockNs(id) : timeout
        clocks.push({ userdata, waitNs: waitNs < 0n ? 0n : waitNs })
      } else if (tag === EVENTTYPE_FD_READ || tag === EVENTTYPE_FD_WRITE) {
        ready.push(fdEvent(userdata, tag, v.getUint32(s + 16, true)))
      } else return EINVAL
    }
    // Nothing ready: sleep until the earliest clock; its subscriptions (and any equal) fire.
    if (ready.length === 0 && clocks.length > 0) {
      const first = clocks.reduce((m, c) => c.waitNs < m ? c.waitNs : m, clocks[0]!.waitNs)
      if (first > 0n) src.sleepNs(first)
      for (const c of clocks) if (c.waitNs <= first) ready.push({ userdata: c.userdata, error: ESUCCESS, type: EVENTTYPE_CLOCK, nbytes: 0n, flags: 0 })
    } else {
      for (const c of clocks) if (c.waitNs === 0n) ready.push({ userdata: c.userdata, error: ESUCCESS, type: EVENTTYPE_CLOCK, nbytes: 0n, flags: 0 })
    }
    const out = mem.view()
    ready.forEach((ev, i) => {
      const o = outPtr + i * EVENT_SIZE
      out.setBigUint64(o, ev.userdata, true)
      out.setUint16(o + 8, ev.error, true)
      out.setUint8(o + 10, ev.type)
      out.setBigUint64(o + 16, ev.nbytes, true)
      out.setUint16(o + 24, ev.flags, true)
    })
    out.setUint32(neventsPtr, ready.length, true)
    return ESUCCESS
  }
}

/** Blocks the thread for `ns` (the worker has nothing else to do while its guest sleeps). */
export function sleepThread (ns: bigint): void {
  const ms = Number(ns) / 1e6
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}
