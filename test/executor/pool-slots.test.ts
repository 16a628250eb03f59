/**
 * The pool's slot state machine (services/executor/src/pool/slots.ts) as a pure unit: fake hosts
 * and a manual clock, one test per transition of the diagram in its doc comment.
 */
import { describe, it, expect } from '@jest/globals'
import { Slots, respawnDelay, type SlotsInit } from '../../services/executor/src/pool/slots.ts'
import type { Clock, Host, HostEvents, HostRef, JobEnd } from '../../services/executor/src/pool/host.ts'

/** A clock that moves only when told; `early` fires timers that many ms before their time (as libuv may). */
class ManualClock implements Clock {
  t = 0
  private next = 1
  private readonly timers = new Map<number, { at: number, fn: () => void }>()
  private readonly early: number
  constructor (early = 0) { this.early = early }
  now = (): number => this.t
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.next++
    // Early by a part of the time asked only: a timer re-armed for what is left does fire.
    this.timers.set(id, { at: this.t + ms - (ms > this.early ? this.early : 0), fn })
    return id
  }

  clearTimeout = (handle: unknown): void => { this.timers.delete(handle as number) }
  get pending (): number { return this.timers.size }

  /** Moves time on by `ms`, firing due timers in order and letting the promises they start settle. */
  async advance (ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await flush()
      let due: [number, { at: number, fn: () => void }] | undefined
      for (const e of this.timers) if (e[1].at <= end && (due === undefined || e[1].at < due[1].at)) due = e
      if (due === undefined) break
      this.timers.delete(due[0])
      this.t = Math.max(this.t, due[1].at)
      due[1].fn()
    }
    this.t = end
    await flush()
  }
}

const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

class FakeHost implements Host {
  terminated = 0
  /** terminate() never resolves (a host that will not go). */
  hang = false
  readonly ref: HostRef
  readonly events: HostEvents
  constructor (ref: HostRef, events: HostEvents) {
    this.ref = ref
    this.events = events
  }

  terminate = async (): Promise<void> => {
    this.terminated++
    if (this.hang) await new Promise(() => {})
  }
}

interface TestJob { id: number }
type Reason = string

function harness (init: Partial<SlotsInit> = {}, options: { early?: number, spawn?: (ref: HostRef, events: HostEvents) => FakeHost, end?: () => Promise<void> } = {}) {
  const clock = new ManualClock(options.early)
  const hosts: FakeHost[] = []
  const ends: Array<{ job: TestJob, how: JobEnd<Reason>, host: FakeHost, terminatedBefore: number }> = []
  const warns: Array<Record<string, unknown>> = []
  const errors: Array<Record<string, unknown>> = []
  let idles = 0
  const slots = new Slots<FakeHost, TestJob, Reason>({ size: 1, bootTimeoutMs: 1000, respawnDelayMs: 100, maxRespawnDelayMs: 1600, healthyAfterMs: 10_000, terminateTimeoutMs: 500, ...init }, {
    spawn: (ref, events) => {
      const host = options.spawn?.(ref, events) ?? new FakeHost(ref, events)
      hosts.push(host)
      return host
    },
    end: async (job, how, host) => {
      ends.push({ job, how, host, terminatedBefore: host.terminated })
      await options.end?.()
    },
    idle: () => { idles++ },
    clock,
    logger: { warn: ((o: Record<string, unknown>) => { warns.push(o) }) as never, error: ((o: Record<string, unknown>) => { errors.push(o) }) as never }
  })
  const last = (): FakeHost => hosts[hosts.length - 1]!
  /** Starts with every host saying ready. */
  async function started (): Promise<void> {
    const start = slots.start()
    for (const h of hosts) h.events.ready()
    await start
  }
  return { slots, clock, hosts, ends, warns, errors, last, started, idles: () => idles }
}

describe('slot state machine', () => {
  describe('booting', () => {
    it('spawns a host per slot and stays booting until each says ready', async () => {
      const { slots, hosts, started } = harness({ size: 3 })
      const start = started()
      expect(hosts).toHaveLength(3)
      await start
      expect([0, 1, 2].map((i) => slots.state(i))).toEqual(['idle', 'idle', 'idle'])
      expect(slots.ready()).toBe(3)
      await slots.stop()
    })

    it('goes booting → idle on ready, tells the owner, and start() waits for every slot', async () => {
      const { slots, hosts, idles } = harness({ size: 2 })
      let done = false
      const start = slots.start().then(() => { done = true })
      expect(slots.state(0)).toBe('booting')
      hosts[0]!.events.ready()
      await flush()
      expect(slots.state(0)).toBe('idle')
      expect(idles()).toBe(1)
      expect(done).toBe(false)
      hosts[1]!.events.ready()
      await start
      expect(done).toBe(true)
      await slots.stop()
    })

    it('fails start() with WorkerBootError (timeout) when a host never says ready, and terminates every host', async () => {
      const { slots, hosts, clock } = harness({ size: 2, bootTimeoutMs: 1000 })
      const start = slots.start().catch((e: unknown) => e)
      hosts[0]!.events.ready()
      await clock.advance(999)
      expect(slots.state(1)).toBe('booting')
      await clock.advance(1)
      const err = await start as Error & { code: string, reason: string, slot: number }
      expect(err).toMatchObject({ name: 'WorkerBootError', code: 'unavailable', reason: 'timeout', slot: 1 })
      expect(hosts.map((h) => h.terminated > 0)).toEqual([true, true])
      expect([slots.state(0), slots.state(1)]).toEqual(['stopped', 'stopped'])
      await clock.advance(60_000)
      expect(hosts).toHaveLength(2)
    })

    it('fails start() with WorkerBootError (died) when a host dies while booting', async () => {
      const { slots, hosts } = harness()
      const start = slots.start().catch((e: unknown) => e)
      expect(hosts[0]!.events.died({ detail: 'worker exited', exitCode: 3 })).toBe(true)
      expect(await start).toMatchObject({ name: 'WorkerBootError', code: 'unavailable', reason: 'died', message: 'executor worker 0 failed to boot: worker exited with code 3' })
      expect(slots.state(0)).toBe('stopped')
    })

    it('fails start() with WorkerBootError (died) when spawning throws', async () => {
      const { slots } = harness({}, { spawn: () => { throw new Error('no such script') } })
      await expect(slots.start()).rejects.toMatchObject({ name: 'WorkerBootError', reason: 'died', message: expect.stringContaining('no such script') })
    })

    it('goes booting → replacing → backing-off when a respawned host never says ready', async () => {
      const { slots, hosts, clock, started, warns } = harness({ bootTimeoutMs: 1000 })
      await started()
      hosts[0]!.events.died({ detail: 'worker exited' })
      await clock.advance(100)
      expect(slots.state(0)).toBe('booting')
      await clock.advance(1000)
      expect(hosts[1]!.terminated).toBe(1)
      expect(slots.state(0)).toBe('backing-off')
      expect(warns.map((w) => w.retryInMs)).toEqual([100, 200])
      await slots.stop()
    })
    it('goes booting → replacing → backing-off when a respawned host dies or cannot be spawned', async () => {
      let fail = false
      const { slots, hosts, clock, started, warns } = harness({}, {
        spawn: (ref, events) => {
          if (fail) throw new Error('no such script')
          return new FakeHost(ref, events)
        }
      })
      await started()
      hosts[0]!.events.died({ detail: 'worker exited' })
      await clock.advance(100)
      expect(slots.state(0)).toBe('booting')
      hosts[1]!.events.died({ detail: 'worker exited', exitCode: 1 })
      await flush()
      expect(slots.state(0)).toBe('backing-off')
      fail = true
      await clock.advance(200)
      expect(slots.state(0)).toBe('backing-off')
      expect(warns.map((w) => [w.failures, w.retryInMs, w.detail])).toEqual([
        [1, 100, 'worker exited'],
        [2, 200, 'boot failed: worker exited with code 1'],
        [3, 400, 'boot failed: spawn failed: no such script']
      ])
      await slots.stop()
    })
  })

  describe('idle', () => {
    it('goes idle → busy on assign, and refuses to assign a slot that is not idle', async () => {
      const { slots, started } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      expect(slots.state(0)).toBe('busy')
      expect(slots.count('busy')).toBe(1)
      expect(slots.idleSlot()).toBeUndefined()
      expect(() => slots.assign(0, { id: 2 }, 5000)).toThrow(/not idle/)
      await slots.stop()
    })

    it('goes idle → replacing → backing-off when an idle host dies', async () => {
      const { slots, hosts, clock, started } = harness()
      await started()
      hosts[0]!.events.died({ detail: 'worker crashed', error: new Error('boom') })
      await flush()
      expect(slots.state(0)).toBe('backing-off')
      expect(slots.ready()).toBe(0)
      await clock.advance(100)
      expect(slots.state(0)).toBe('booting')
      await slots.stop()
    })
  })

  describe('busy', () => {
    it('goes busy → draining when the job has its outcome, and draining → idle when the host is free', async () => {
      const { slots, started, ends, idles } = harness()
      await started()
      const ref = slots.ref(0)
      slots.assign(0, { id: 1 }, 5000)
      expect(slots.settled(0, 1)).toBe(true)
      expect(slots.state(0)).toBe('draining')
      expect(slots.count('busy')).toBe(0)
      expect(slots.job(ref)).toEqual({ id: 1 })
      expect(slots.release(0, 1)).toBe(true)
      expect(slots.state(0)).toBe('idle')
      expect(idles()).toBe(2)
      expect(ends).toHaveLength(0)
      await slots.stop()
    })

    it('goes busy → idle when the job finishes, and disarms its deadline', async () => {
      const { slots, clock, started, hosts } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      expect(slots.release(0, 1)).toBe(true)
      expect(slots.state(0)).toBe('idle')
      await clock.advance(10_000)
      expect(slots.state(0)).toBe('idle')
      expect(hosts).toHaveLength(1)
      await slots.stop()
    })

    it('ignores settled, release and replace naming another job or an idle slot', async () => {
      const { slots, started } = harness()
      await started()
      expect(slots.replace(0, 1, 'x')).toBe(false)
      slots.assign(0, { id: 1 }, 5000)
      expect(slots.settled(0, 2)).toBe(false)
      expect(slots.release(0, 2)).toBe(false)
      expect(slots.replace(0, 2, 'x')).toBe(false)
      expect(slots.replace(7, 1, 'x')).toBe(false)
      expect(slots.state(0)).toBe('busy')
      await slots.stop()
    })

    it('goes busy → replacing at the deadline: the job ends (deadline) before its host is terminated, the slot respawns at once', async () => {
      const { slots, clock, started, hosts, ends, warns } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      await clock.advance(4999)
      expect(slots.state(0)).toBe('busy')
      await clock.advance(1)
      expect(ends).toEqual([expect.objectContaining({ job: { id: 1 }, how: { kind: 'deadline' }, terminatedBefore: 0 })])
      expect(hosts[0]!.terminated).toBe(1)
      expect(slots.state(0)).toBe('booting')
      expect(slots.ref(0).host).toBe(2)
      expect(warns).toHaveLength(0)
      hosts[1]!.events.ready()
      expect(slots.state(0)).toBe('idle')
      await slots.stop()
    })

    it('re-arms a deadline timer that fires early, so a job is never ended short of its limit', async () => {
      const { slots, clock, started, ends } = harness({}, { early: 1 })
      await started()
      slots.assign(0, { id: 1 }, 5000)
      await clock.advance(4999)
      expect(slots.state(0)).toBe('busy')
      expect(clock.pending).toBe(1)
      await clock.advance(1)
      expect(ends.map((e) => e.how.kind)).toEqual(['deadline'])
      await slots.stop()
    })

    it('goes busy → replacing on replace: the owner ends the job with its reason first, and the slot respawns at once', async () => {
      let release!: () => void
      const { slots, started, hosts, ends } = harness({}, { end: async () => await new Promise<void>((resolve) => { release = resolve }) })
      await started()
      slots.assign(0, { id: 1 }, 5000)
      expect(slots.replace(0, 1, 'cancelled')).toBe(true)
      // end() is called at once, and the host waits for it.
      expect(ends).toEqual([expect.objectContaining({ how: { kind: 'replaced', reason: 'cancelled' }, terminatedBefore: 0 })])
      expect(slots.state(0)).toBe('replacing')
      await flush()
      expect(hosts[0]!.terminated).toBe(0)
      release()
      await flush()
      expect(hosts[0]!.terminated).toBe(1)
      expect(slots.state(0)).toBe('booting')
      expect(slots.failures(0)).toBe(0)
      await slots.stop()
    })

    it('goes busy → replacing → backing-off when its host dies, giving the job the death', async () => {
      const { slots, clock, started, hosts, ends, warns } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      expect(hosts[0]!.events.died({ detail: 'worker crashed' })).toBe(true)
      expect(ends.map((e) => e.how)).toEqual([{ kind: 'died', death: { detail: 'worker crashed' } }])
      await flush()
      expect(slots.state(0)).toBe('backing-off')
      expect(slots.failures(0)).toBe(1)
      expect(warns).toEqual([expect.objectContaining({ slot: 0, failures: 1, retryInMs: 100 })])
      await clock.advance(99)
      expect(hosts).toHaveLength(1)
      await clock.advance(1)
      expect(hosts).toHaveLength(2)
      expect(slots.state(0)).toBe('booting')
      await slots.stop()
    })

    it('respawns at once when the guest ended its host by design (a heap cap), without counting a failure', async () => {
      const { slots, started, hosts, ends } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      hosts[0]!.events.died({ detail: 'worker heap cap reached', guest: true })
      expect(ends.map((e) => e.how.kind)).toEqual(['died'])
      await flush()
      expect(slots.state(0)).toBe('booting')
      expect(slots.failures(0)).toBe(0)
      await slots.stop()
    })
  })

  describe('draining', () => {
    it('goes draining → replacing at the deadline without ending the job again', async () => {
      const { slots, clock, started, hosts, ends } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      slots.settled(0, 1)
      await clock.advance(5000)
      expect(ends).toHaveLength(0)
      expect(hosts[0]!.terminated).toBe(1)
      expect(slots.state(0)).toBe('booting')
      await slots.stop()
    })

    it('goes draining → replacing → backing-off when its host dies', async () => {
      const { slots, started, hosts, ends } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      slots.settled(0, 1)
      hosts[0]!.events.died({ detail: 'worker exited' })
      await flush()
      expect(ends).toHaveLength(0)
      expect(slots.state(0)).toBe('backing-off')
      await slots.stop()
    })
    it('goes draining → replacing on replace without ending the job again', async () => {
      const { slots, started, hosts, ends } = harness()
      await started()
      slots.assign(0, { id: 1 }, 5000)
      slots.settled(0, 1)
      expect(slots.replace(0, 1, 'memory')).toBe(true)
      await flush()
      expect(ends).toHaveLength(0)
      expect(hosts[0]!.terminated).toBe(1)
      expect(slots.state(0)).toBe('booting')
      await slots.stop()
    })
  })

  describe('replacing', () => {
    it('ignores the events of a host being replaced and of a replaced host', async () => {
      let release!: () => void
      const { slots, started, hosts, clock } = harness({}, { end: async () => await new Promise<void>((resolve) => { release = resolve }) })
      await started()
      slots.assign(0, { id: 1 }, 5000)
      slots.replace(0, 1, 'memory')
      // Being replaced: its exit is expected.
      expect(hosts[0]!.events.died({ detail: 'worker exited' })).toBe(false)
      release()
      await flush()
      expect(slots.state(0)).toBe('booting')
      // Replaced: its late events are another host's no more.
      hosts[0]!.events.ready()
      expect(hosts[0]!.events.died({ detail: 'worker exited' })).toBe(false)
      expect(slots.state(0)).toBe('booting')
      await clock.advance(60_000)
      await slots.stop()
    })

    it('gives up on a host that does not terminate in time, logs it and backs off', async () => {
      const { slots, started, hosts, clock, errors } = harness({ terminateTimeoutMs: 500 })
      await started()
      hosts[0]!.hang = true
      slots.assign(0, { id: 1 }, 5000)
      slots.replace(0, 1, 'memory')
      await clock.advance(499)
      expect(slots.state(0)).toBe('replacing')
      await clock.advance(1)
      expect(errors).toEqual([expect.objectContaining({ slot: 0, timeoutMs: 500 })])
      expect(slots.state(0)).toBe('backing-off')
      expect(slots.failures(0)).toBe(1)
      await slots.stop()
    })
  })

  describe('backing-off', () => {
    it('doubles the delay per consecutive failure up to the cap, so a host that keeps dying does not spin', async () => {
      const { slots, started, hosts, clock, warns } = harness({ respawnDelayMs: 100, maxRespawnDelayMs: 1600 })
      await started()
      // Every host dies at once; over a minute the slot spawns a bounded number of times.
      for (let t = 0; t < 60_000; t += 50) {
        const h = hosts[hosts.length - 1]!
        h.events.died({ detail: 'worker exited' })
        await clock.advance(50)
      }
      expect(warns.slice(0, 7).map((w) => w.retryInMs)).toEqual([100, 200, 400, 800, 1600, 1600, 1600])
      expect(warns.slice(0, 7).map((w) => w.failures)).toEqual([1, 2, 3, 4, 5, 6, 7])
      // 60 s at one spawn per 1.6 s at most, plus the ramp: not one per event loop turn.
      expect(hosts.length).toBeLessThan(45)
      expect(slots.ready()).toBe(0)
      await slots.stop()
    })

    it('starts the back-off over once a job finished on the slot', async () => {
      const { slots, started, last, clock, warns } = harness()
      await started()
      last().events.died({ detail: 'worker exited' })
      await clock.advance(100)
      last().events.died({ detail: 'worker exited' })
      await clock.advance(200)
      last().events.ready()
      slots.assign(0, { id: 1 }, 5000)
      slots.release(0, 1)
      expect(slots.failures(0)).toBe(0)
      last().events.died({ detail: 'worker exited' })
      await flush()
      expect(warns.map((w) => w.retryInMs)).toEqual([100, 200, 100])
      await slots.stop()
    })

    it('starts the back-off over when the host that died had been ready for healthyAfterMs', async () => {
      const { slots, started, last, clock, warns } = harness({ healthyAfterMs: 10_000 })
      await started()
      last().events.died({ detail: 'worker exited' })
      await clock.advance(100)
      last().events.ready()
      await clock.advance(9_999)
      last().events.died({ detail: 'worker exited' })
      await clock.advance(200)
      last().events.ready()
      await clock.advance(10_000)
      last().events.died({ detail: 'worker exited' })
      await flush()
      expect(warns.map((w) => w.retryInMs)).toEqual([100, 200, 100])
      await slots.stop()
    })

    it('goes backing-off → booting when the delay is over', async () => {
      const { slots, started, last, clock, hosts } = harness()
      await started()
      last().events.died({ detail: 'worker exited' })
      await flush()
      expect(slots.state(0)).toBe('backing-off')
      await clock.advance(100)
      expect(slots.state(0)).toBe('booting')
      expect(hosts).toHaveLength(2)
      await slots.stop()
    })
  })

  describe('stop', () => {
    it('ends a busy job (stopped), leaves a draining one alone, terminates every host and cancels back-off timers', async () => {
      const { slots, hosts, clock, ends } = harness({ size: 4 })
      const start = slots.start()
      for (const h of hosts) h.events.ready()
      await start
      slots.assign(0, { id: 1 }, 5000)
      slots.assign(1, { id: 2 }, 5000)
      slots.settled(1, 2)
      hosts[2]!.events.died({ detail: 'worker exited' })
      await flush()
      expect([0, 1, 2, 3].map((i) => slots.state(i))).toEqual(['busy', 'draining', 'backing-off', 'idle'])
      await slots.stop()
      expect(ends.map((e) => [e.job.id, e.how.kind])).toEqual([[1, 'stopped']])
      expect(hosts.map((h) => h.terminated)).toEqual([1, 1, 1, 1])
      expect([0, 1, 2, 3].map((i) => slots.state(i))).toEqual(['stopped', 'stopped', 'stopped', 'stopped'])
      await clock.advance(60_000)
      expect(hosts).toHaveLength(4)
      expect(clock.pending).toBe(0)
      await slots.stop()
    })

    it('waits for a replacement under way and spawns nothing after it', async () => {
      let release!: () => void
      const { slots, started, hosts } = harness({}, { end: async () => await new Promise<void>((resolve) => { release = resolve }) })
      await started()
      slots.assign(0, { id: 1 }, 5000)
      slots.replace(0, 1, 'memory')
      let stopped = false
      const stop = slots.stop().then(() => { stopped = true })
      await flush()
      expect(stopped).toBe(false)
      release()
      await stop
      expect(hosts).toHaveLength(1)
      expect(hosts[0]!.terminated).toBe(1)
      expect(slots.state(0)).toBe('stopped')
    })

    it('makes a start() under way fail with unavailable', async () => {
      const { slots } = harness()
      const start = slots.start().catch((e: unknown) => e)
      await slots.stop()
      expect(await start).toMatchObject({ code: 'unavailable', message: expect.stringContaining('stopping') })
    })
  })

  describe('respawnDelay', () => {
    it('is 0 with no failure, then doubles from the base up to the cap', () => {
      expect([0, 1, 2, 3, 4, 5, 100, 5000].map((n) => respawnDelay(n, 100, 30_000))).toEqual([0, 100, 200, 400, 800, 1600, 30_000, 30_000])
    })
  })
})
