/**
 * WASI preview1 conformance, everything but files: args, environ, stdio, clocks, random,
 * poll_oneoff, sched_yield, proc_exit, proc_raise, sockets (none), and the replaceable clock and
 * random providers. Each test calls the host through a wasm module (`wasi-guest.ts`).
 */
import { describe, it, expect } from '@jest/globals'
import { guest, exitCode, bytes, E, PREVIEW1 } from './wasi-guest.ts'
import { CLOCK_RESOLUTION_NS, OutputLimitSignal } from '../../services/executor/src/wasi-host.ts'

const P = 0x8000

describe('WASI args_sizes_get / args_get / environ_sizes_get / environ_get', () => {
  it('gives argv[0] = main.wasm then the args, and KEY=VALUE pairs, NUL-terminated', async () => {
    const g = await guest({ args: ['a', 'bé'], env: { K: 'v', EMPTY: '' } })
    expect(g.call.args_sizes_get!(P, P + 4)).toBe(E.SUCCESS)
    expect([g.u32(P), g.u32(P + 4)]).toEqual([3, 10 + 2 + 4])
    expect(g.call.args_get!(P + 16, P + 64)).toBe(E.SUCCESS)
    expect([0, 1, 2].map((i) => g.u32(P + 16 + i * 4) - (P + 64))).toEqual([0, 10, 12])
    expect(g.text(P + 64, 16)).toBe('main.wasm\0a\0bé\0')
    expect(g.call.environ_sizes_get!(P, P + 4)).toBe(E.SUCCESS)
    expect([g.u32(P), g.u32(P + 4)]).toEqual([2, 4 + 7])
    expect(g.call.environ_get!(P + 16, P + 64)).toBe(E.SUCCESS)
    expect(g.text(P + 64, 11)).toBe('K=v\0EMPTY=\0')
    expect(g.call.args_get!(0xfffff, 0)).toBe(E.FAULT)
  })
})

describe('WASI fd_read / fd_write on stdio', () => {
  it('reads stdin to its end, then 0 bytes', async () => {
    const g = await guest({ stdin: bytes('input') })
    expect(g.read(0, 3)).toEqual([E.SUCCESS, 'inp'])
    expect(g.read(0, 10)).toEqual([E.SUCCESS, 'ut'])
    expect(g.read(0, 10)).toEqual([E.SUCCESS, ''])
  })

  it('collects stdout and stderr apart, iovec by iovec', async () => {
    const g = await guest()
    g.str(P, 'abcdef')
    g.iovs(P + 64, [[P, 2], [P + 4, 2]])
    expect(g.call.fd_write!(1, P + 64, 2, P + 128)).toBe(E.SUCCESS)
    expect(g.u32(P + 128)).toBe(4)
    g.write(2, 'err')
    expect(new TextDecoder().decode(g.host.stdout())).toBe('abef')
    expect(new TextDecoder().decode(g.host.stderr())).toBe('err')
  })

  it('ends the job at the output cap, keeping the output up to it', async () => {
    const g = await guest({ outputBytes: 4 })
    expect(() => g.write(1, 'abcdef')).toThrow(OutputLimitSignal)
    expect(g.ended()).toMatchObject({ kind: 'output_limit' })
    expect(new TextDecoder().decode(g.host.stdout())).toBe('abcd')
    // Once ended, every call unwinds again.
    expect(() => g.call.sched_yield!()).toThrow(OutputLimitSignal)
  })
})

describe('WASI clock_res_get / clock_time_get', () => {
  it('gives every clock a 100 µs resolution and coarsened readings; EINVAL past clock 3', async () => {
    const g = await guest()
    for (const id of [0, 1, 2, 3]) {
      expect(g.call.clock_res_get!(id, P)).toBe(E.SUCCESS)
      expect(g.u64(P)).toBe(CLOCK_RESOLUTION_NS)
      expect(g.call.clock_time_get!(id, 1n, P)).toBe(E.SUCCESS)
      expect(g.u64(P) % CLOCK_RESOLUTION_NS).toBe(0n)
    }
    g.call.clock_time_get!(0, 1n, P)
    expect(Number(g.u64(P) / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000)
    expect(g.call.clock_res_get!(4, P)).toBe(E.INVAL)
    expect(g.call.clock_time_get!(4, 1n, P)).toBe(E.INVAL)
  })

  it('takes its time from a clockNs provider, at 1 ns resolution', async () => {
    const g = await guest({ providers: { clockNs: (id) => BigInt(id) * 1000n + 7n } })
    g.call.clock_time_get!(1, 0n, P)
    expect(g.u64(P)).toBe(1007n)
    g.call.clock_res_get!(1, P)
    expect(g.u64(P)).toBe(1n)
  })
})

describe('WASI random_get', () => {
  it('fills the buffer (more than getRandomValues takes at once) and EFAULT past memory', async () => {
    const g = await guest()
    expect(g.call.random_get!(256, 100_000)).toBe(E.SUCCESS)
    const got = g.bytes().subarray(256, 256 + 100_000)
    expect(new Set(got).size).toBeGreaterThan(200)
    expect(got.subarray(70_000, 70_100).some((b) => b !== 0)).toBe(true)
    expect(g.call.random_get!(g.bytes().byteLength - 1, 2)).toBe(E.FAULT)
  })

  it('takes its bytes from a randomFill provider', async () => {
    const g = await guest({ providers: { randomFill: (b) => b.fill(0xab) } })
    g.call.random_get!(P, 4)
    expect([...g.bytes().subarray(P, P + 4)]).toEqual([0xab, 0xab, 0xab, 0xab])
  })
})

describe('WASI poll_oneoff', () => {
  /** Writes subscription i at P: [userdata, tag, fd or clock id, timeout, flags]. */
  const sub = (g: ReturnType<typeof guest> extends Promise<infer G> ? G : never, i: number, userdata: bigint, tag: number, idOrFd: number, timeout = 0n, flags = 0): void => {
    const v = g.view()
    const o = P + i * 48
    v.setBigUint64(o, userdata, true)
    v.setUint8(o + 8, tag)
    v.setUint32(o + 16, idOrFd, true)
    v.setBigUint64(o + 24, timeout, true)
    v.setUint16(o + 40, flags, true)
  }
  const EV = P + 0x1000
  const events = (g: Awaited<ReturnType<typeof guest>>): Array<[bigint, number, number, bigint, number]> =>
    Array.from({ length: g.u32(P + 0x2000) }, (_, i) => {
      const o = EV + i * 32
      return [g.u64(o), g.view().getUint16(o + 8, true), g.bytes()[o + 10]!, g.u64(o + 16), g.view().getUint16(o + 24, true)]
    })

  it('answers stdin readable with its bytes left, stdout writable, at once even with a clock', async () => {
    const g = await guest({ stdin: bytes('abc'), outputBytes: 100 })
    sub(g, 0, 1n, 1, 0)
    sub(g, 1, 2n, 2, 1)
    sub(g, 2, 3n, 0, 1, 10_000_000_000n)
    const t = performance.now()
    expect(g.call.poll_oneoff!(P, EV, 3, P + 0x2000)).toBe(E.SUCCESS)
    expect(performance.now() - t).toBeLessThan(5_000)
    expect(events(g)).toEqual([[1n, 0, 1, 3n, 0], [2n, 0, 2, 100n, 0]])
  })

  it('flags stdin HANGUP once drained, and answers EBADF in the event for a closed fd', async () => {
    const g = await guest()
    sub(g, 0, 1n, 1, 0)
    sub(g, 1, 2n, 1, 42)
    sub(g, 2, 3n, 1, 1)
    expect(g.call.poll_oneoff!(P, EV, 3, P + 0x2000)).toBe(E.SUCCESS)
    expect(events(g)).toEqual([[1n, 0, 1, 0n, 1], [2n, E.BADF, 1, 0n, 0], [3n, E.BADF, 1, 0n, 0]])
  })

  it('sleeps until the earliest clock when no fd is ready (relative and absolute)', async () => {
    let slept = 0n
    const g = await guest({ providers: { clockNs: () => 1_000n, sleepNs: (ns) => { slept += ns } } })
    sub(g, 0, 7n, 0, 1, 5_000_000n)
    sub(g, 1, 8n, 0, 1, 1_000_000n + 1_000n, 1)
    expect(g.call.poll_oneoff!(P, EV, 2, P + 0x2000)).toBe(E.SUCCESS)
    expect(slept).toBe(1_000_000n)
    expect(events(g)).toEqual([[8n, 0, 0, 0n, 0]])
  })

  it('really sleeps with the default provider', async () => {
    const g = await guest()
    sub(g, 0, 1n, 0, 1, 30_000_000n)
    const t = performance.now()
    expect(g.call.poll_oneoff!(P, EV, 1, P + 0x2000)).toBe(E.SUCCESS)
    expect(performance.now() - t).toBeGreaterThanOrEqual(29)
    expect(events(g)).toEqual([[1n, 0, 0, 0n, 0]])
  })

  it('answers EINVAL for no subscriptions or an unknown tag, EFAULT past memory, EINVAL in the event for a bad clock', async () => {
    const g = await guest()
    expect(g.call.poll_oneoff!(P, EV, 0, P + 0x2000)).toBe(E.INVAL)
    sub(g, 0, 1n, 9, 0)
    expect(g.call.poll_oneoff!(P, EV, 1, P + 0x2000)).toBe(E.INVAL)
    expect(g.call.poll_oneoff!(P, EV, 100_000, P + 0x2000)).toBe(E.FAULT)
    sub(g, 0, 1n, 0, 9, 0n)
    expect(g.call.poll_oneoff!(P, EV, 1, P + 0x2000)).toBe(E.SUCCESS)
    expect(events(g)).toEqual([[1n, E.INVAL, 0, 0n, 0]])
  })
})

describe('WASI sched_yield / proc_exit / proc_raise', () => {
  it('yields, exits with the u32 code, and has no signals', async () => {
    const g = await guest()
    expect(g.call.sched_yield!()).toBe(E.SUCCESS)
    expect(g.call.proc_raise!(6)).toBe(E.NOSYS)
    expect(exitCode(() => g.call.proc_exit!(-1))).toBe(4294967295)
    expect(g.ended()).toEqual({ kind: 'exit', code: 4294967295 })
  })
})

describe('WASI sock_accept / sock_recv / sock_send / sock_shutdown', () => {
  it('answers ENOTSOCK on a live descriptor and EBADF on a closed one', async () => {
    const g = await guest()
    for (const fd of [0, 1, 3, 4]) {
      expect(g.call.sock_accept!(fd, 0, P)).toBe(E.NOTSOCK)
      expect(g.call.sock_recv!(fd, P, 0, 0, P, P + 4)).toBe(E.NOTSOCK)
      expect(g.call.sock_send!(fd, P, 0, 0, P)).toBe(E.NOTSOCK)
      expect(g.call.sock_shutdown!(fd, 2)).toBe(E.NOTSOCK)
    }
    expect(g.call.sock_accept!(9, 0, P)).toBe(E.BADF)
    expect(g.call.sock_recv!(9, P, 0, 0, P, P + 4)).toBe(E.BADF)
    expect(g.call.sock_send!(9, P, 0, 0, P)).toBe(E.BADF)
    expect(g.call.sock_shutdown!(9, 2)).toBe(E.BADF)
  })
})

describe('WASI preview1 coverage', () => {
  it('implements every preview1 function (none falls back to ENOSYS but proc_raise)', async () => {
    const { createWasiHost } = await import('../../services/executor/src/wasi-host.ts')
    const host = createWasiHost({ args: [], env: {}, stdin: new Uint8Array(), outputBytes: 0 }, [...Object.keys(PREVIEW1), 'not_a_wasi_call'])
    expect(host.imports.not_a_wasi_call!()).toBe(E.NOSYS)
    expect(Object.keys(PREVIEW1)).toHaveLength(46)
  })
})
