/**
 * The slots of a pool: each slot holds one host (a worker thread today; anything that boots, runs
 * one job at a time and can be killed, e.g. a child process, fits `Host`) and is always in exactly
 * one state. All of a slot's life goes through the transitions below; nothing else changes
 * `state`, `host` or `job`.
 *
 * ```
 *                 spawn                 ready
 *   (start) ───────────────▶ booting ───────────▶ idle ◀──────────────────────┐
 *                              │  ▲                │ assign                  │ release (the host
 *   boot deadline / died ──────┤  │                ▼                         │  says it is free)
 *                              │  │              busy ──── settled ──▶ draining
 *                              │  │                │                         │
 *                              │  │   deadline / replace / died              │ deadline / replace / died
 *                              │  │                ▼                         │
 *                              └──┼──────────▶ replacing ◀───────────────────┘
 *                                 │                │ job given its outcome, host terminated
 *                                 │ spawn          ├── asked (deadline, replace, guest fault) ──▶ booting
 *                                 │ (delay over)   └── host failure ──▶ backing-off
 *                                 └─────────────────────────────────────────────┘
 *   any state ── stop ──▶ stopped
 * ```
 *
 * * `booting`: a host was spawned; it has `bootTimeoutMs` to say ready.
 * * `idle`: ready, no job: the owner may `assign` one.
 * * `busy`: running a job that has no outcome yet; the job's deadline is armed.
 * * `draining`: the job has its outcome (the host sent it from inside the guest, e.g. proc_exit),
 *   but the host is still in the guest's code: it takes no job until it says it is free, and the
 *   job's deadline still ends it.
 * * `replacing`: the host is going. A job still without an outcome gets one first (the owner's
 *   `end`, which may still read from the host, e.g. its CPU time), then the host is terminated
 *   (waited for at most `terminateTimeoutMs`). A slot never has two hosts: a guest that gets its
 *   host killed again and again never holds more than one thread's memory per slot (a host that
 *   will not go in time is given up on and counted as a failure, so even then it is bounded by the back-off).
 * * `backing-off`: the host failed (died unasked, never booted, would not terminate); the slot
 *   waits `respawnDelay(failures)` before it spawns again, so a host that keeps dying costs a
 *   spawn per `maxRespawnDelayMs` at most instead of a spinning core. A host killed because it
 *   was asked to (deadline, the owner's `replace`) or because its guest hit a cap by design (the
 *   owner marks such a death `guest`) is not a failure: its slot respawns at once.
 * * `stopped`: the pool stopped; terminal.
 *
 * `failures` counts a slot's consecutive host failures: it goes back to 0 when a job finishes on
 * the slot normally, or when the host that failed had been ready for `healthyAfterMs` (as pm2
 * resets its back-off after a stable uptime). Every failure is logged with the count and the
 * delay; `ready()` (what the pool reports as its workers) leaves the slot out until it boots again.
 *
 * During `start()`, a host that fails to boot fails `start()` with a `WorkerBootError`, and every
 * other host is terminated: a pool that cannot boot once is misinstalled, and the process
 * supervisor (pm2, with its own back-off) is the one to retry.
 *
 * Slots are named by their index, hosts by a generation number (`HostRef`): an event from a host
 * that has been replaced, or a request about a job that has left its slot, is ignored.
 */
import { UnavailableError } from '@phase-network/protocol/errors'
import type { Logger } from '@phase-network/process'
import { systemClock, WorkerBootError, type Clock, type Host, type HostDeath, type HostEvents, type HostRef, type JobEnd } from './host.ts'

/** How long a host has to say ready. Generous: a worker's boot took 20 s on a loaded machine before its type stripping was warmed (v8-runtime.ts). */
export const DEFAULT_BOOT_TIMEOUT_MS = 30_000
/** Delay before the first respawn after a host failure; doubled for each further consecutive failure. */
export const DEFAULT_RESPAWN_DELAY_MS = 100
/** The back-off's cap: a slot whose host keeps failing spawns once per this at most. */
export const DEFAULT_MAX_RESPAWN_DELAY_MS = 30_000
/** A host that was ready this long before it failed counts as healthy: its slot's back-off starts over. */
export const DEFAULT_HEALTHY_AFTER_MS = 30_000
/** How long a host being replaced may take to go before the slot gives up on it (counted as a failure). */
export const DEFAULT_TERMINATE_TIMEOUT_MS = 5_000

/** The generation no host has (hosts count from 1): a reference to an unknown slot matches nothing. */
const NO_HOST = -1

export type SlotState = 'booting' | 'idle' | 'busy' | 'draining' | 'replacing' | 'backing-off' | 'stopped'

export interface SlotsInit {
  /** Number of slots. */
  size: number
  /** Default: DEFAULT_BOOT_TIMEOUT_MS. */
  bootTimeoutMs?: number
  /** Default: DEFAULT_RESPAWN_DELAY_MS. */
  respawnDelayMs?: number
  /** Default: DEFAULT_MAX_RESPAWN_DELAY_MS. */
  maxRespawnDelayMs?: number
  /** Default: DEFAULT_HEALTHY_AFTER_MS. */
  healthyAfterMs?: number
  /** Default: DEFAULT_TERMINATE_TIMEOUT_MS. */
  terminateTimeoutMs?: number
}

export interface SlotsComponents<H extends Host, J extends { readonly id: number }, R> {
  /** Makes a host for a slot; it reports through `events`. May throw (a failure, like a death). */
  spawn: (ref: HostRef, events: HostEvents) => H
  /**
   * Gives a job that leaves its slot unfinished its outcome. Called synchronously as the slot
   * enters `replacing` (or `stopped`), before its host is terminated; the slot waits for it.
   */
  end: (job: J, how: JobEnd<R>, host: H) => Promise<void> | void
  /** A slot became idle: the owner may assign it a job. */
  idle: () => void
  /** Default: the real timers, `performance.now()`. */
  clock?: Clock
  logger?: Pick<Logger, 'error' | 'warn'>
}

/** The delay before a slot respawns after `failures` consecutive host failures: 0, then base·2^(n−1) up to the cap. */
export function respawnDelay (failures: number, baseMs: number, capMs: number): number {
  if (failures <= 0) return 0
  return Math.min(baseMs * 2 ** Math.min(failures - 1, 52), capMs)
}

interface Slot<H, J> {
  readonly id: number
  state: SlotState
  /** Generation of `host`: bumped at every spawn. */
  generation: number
  host?: H
  job?: J
  /** The one timer of the state: boot deadline (booting), job deadline (busy, draining), respawn (backing-off). */
  timer?: unknown
  /** The job's deadline on the clock. */
  deadline: number
  /** When the host said ready (clock), if it did. */
  readyAt?: number
  failures: number
  /** The replacement under way (replacing, backing-off's lead-in), awaited by stop(). */
  going?: Promise<void>
}

export class Slots<H extends Host, J extends { readonly id: number }, R> {
  private readonly init: Required<SlotsInit>
  private readonly components: SlotsComponents<H, J, R>
  private readonly clock: Clock
  private readonly slots: Array<Slot<H, J>>
  private starting?: { waiting: number, resolve: () => void, reject: (err: Error) => void }
  private stopped = false

  constructor (init: SlotsInit, components: SlotsComponents<H, J, R>) {
    this.init = {
      size: init.size,
      bootTimeoutMs: init.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS,
      respawnDelayMs: init.respawnDelayMs ?? DEFAULT_RESPAWN_DELAY_MS,
      maxRespawnDelayMs: init.maxRespawnDelayMs ?? DEFAULT_MAX_RESPAWN_DELAY_MS,
      healthyAfterMs: init.healthyAfterMs ?? DEFAULT_HEALTHY_AFTER_MS,
      terminateTimeoutMs: init.terminateTimeoutMs ?? DEFAULT_TERMINATE_TIMEOUT_MS
    }
    this.components = components
    this.clock = components.clock ?? systemClock
    this.slots = Array.from({ length: init.size }, (_, id) => ({ id, state: 'stopped', generation: 0, deadline: 0, failures: 0 }))
  }

  /** Spawns every slot's host; resolves once all are ready, or fails with the first WorkerBootError. */
  async start (): Promise<void> {
    const all = new Promise<void>((resolve, reject) => { this.starting = { waiting: this.slots.length, resolve, reject } })
    if (this.slots.length === 0) this.starting?.resolve()
    for (const slot of this.slots) this.spawn(slot)
    try {
      await all
    } catch (err) {
      await this.stop()
      throw err
    } finally {
      this.starting = undefined
    }
  }

  /** Ends every slot: a job without an outcome gets `stopped`, every host is terminated. Safe to call twice. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.starting?.reject(new UnavailableError('executor is stopping'))
    const hosts: H[] = []
    const going: Array<Promise<unknown>> = []
    for (const slot of this.slots) {
      this.clearTimer(slot)
      const { state, job, host } = slot
      if (slot.going !== undefined) going.push(slot.going)
      slot.state = 'stopped'
      slot.job = undefined
      slot.host = undefined
      if (host === undefined || state === 'replacing') continue
      if (state === 'busy' && job !== undefined) going.push(this.end(slot, job, { kind: 'stopped' }, host))
      hosts.push(host)
    }
    await Promise.all([...going, ...hosts.map(async (h) => await this.terminate(h))])
  }

  state (slot: number): SlotState | undefined {
    return this.slots[slot]?.state
  }

  /** Slots whose host is ready (idle, busy or draining). */
  ready (): number {
    return this.count('idle') + this.count('busy') + this.count('draining')
  }

  count (state: SlotState): number {
    let n = 0
    for (const s of this.slots) if (s.state === state) n++
    return n
  }

  failures (slot: number): number {
    return this.slots[slot]?.failures ?? 0
  }

  /** An idle slot, if any. */
  idleSlot (): number | undefined {
    for (const s of this.slots) if (s.state === 'idle') return s.id
    return undefined
  }

  /** The host of a slot that has one ready (idle, busy, draining). */
  host (slot: number): H | undefined {
    const s = this.slots[slot]
    return s?.state === 'idle' || s?.state === 'busy' || s?.state === 'draining' ? s.host : undefined
  }

  /** The generation of a slot's current host. */
  ref (slot: number): HostRef {
    return { slot, host: this.slots[slot]?.generation ?? NO_HOST }
  }

  /** The job the referenced host is running (busy or draining), if that host is still its slot's. */
  job (ref: HostRef): J | undefined {
    const s = this.slots[ref.slot]
    if (s === undefined || s.generation !== ref.host) return undefined
    return s.state === 'busy' || s.state === 'draining' ? s.job : undefined
  }

  /** idle → busy: the slot runs `job`, which is ended `deadline` after `timeoutMs`. */
  assign (slot: number, job: J, timeoutMs: number): void {
    const s = this.slots[slot]
    if (s?.state !== 'idle') throw new Error(`slot ${slot} is ${s?.state ?? 'unknown'}, not idle`)
    s.state = 'busy'
    s.job = job
    s.deadline = this.clock.now() + timeoutMs
    this.armDeadline(s)
  }

  /** busy → draining: the job has its outcome, its host is still in the guest. */
  settled (slot: number, jobId: number): boolean {
    const s = this.running(slot, jobId)
    if (s?.state !== 'busy') return false
    s.state = 'draining'
    return true
  }

  /** busy | draining → idle: the host finished the job and is free. */
  release (slot: number, jobId: number): boolean {
    const s = this.running(slot, jobId)
    if (s === undefined) return false
    this.clearTimer(s)
    s.job = undefined
    s.failures = 0
    s.state = 'idle'
    this.components.idle()
    return true
  }

  /** busy | draining → replacing: the owner ends the job (`reason`) by killing its host; the slot respawns at once. */
  replace (slot: number, jobId: number, reason: R): boolean {
    const s = this.running(slot, jobId)
    if (s === undefined) return false
    this.retire(s, { kind: 'replaced', reason }, false)
    return true
  }

  private running (slot: number, jobId: number): Slot<H, J> | undefined {
    const s = this.slots[slot]
    return (s?.state === 'busy' || s?.state === 'draining') && s.job?.id === jobId ? s : undefined
  }

  private spawn (s: Slot<H, J>): void {
    if (this.stopped) return
    const ref: HostRef = { slot: s.id, host: ++s.generation }
    s.state = 'booting'
    s.readyAt = undefined
    s.host = undefined
    const events: HostEvents = {
      ready: () => { if (this.current(s, ref)) this.becameReady(s) },
      died: (death) => this.current(s, ref) && this.died(s, death)
    }
    try {
      s.host = this.components.spawn(ref, events)
    } catch (error) {
      this.bootFailed(s, 'died', `spawn failed: ${String((error as Error)?.message ?? error)}`, error)
      return
    }
    // The spawn may already have reported (a synchronous event); only arm the deadline if not.
    if (s.state === 'booting' && s.generation === ref.host) s.timer = this.clock.setTimeout(() => this.bootTimeout(s, ref), this.init.bootTimeoutMs)
  }

  private current (s: Slot<H, J>, ref: HostRef): boolean {
    return !this.stopped && s.generation === ref.host
  }

  /** booting → idle. */
  private becameReady (s: Slot<H, J>): void {
    if (s.state !== 'booting') return
    this.clearTimer(s)
    s.state = 'idle'
    s.readyAt = this.clock.now()
    if (this.starting !== undefined && --this.starting.waiting === 0) this.starting.resolve()
    this.components.idle()
  }

  private bootTimeout (s: Slot<H, J>, ref: HostRef): void {
    s.timer = undefined
    if (!this.current(s, ref) || s.state !== 'booting') return
    this.bootFailed(s, 'timeout', `not ready within ${this.init.bootTimeoutMs} ms`)
  }

  /** booting → replacing → backing-off (or start() fails). */
  private bootFailed (s: Slot<H, J>, reason: 'died' | 'timeout', detail: string, cause?: unknown): void {
    if (this.starting !== undefined) this.starting.reject(new WorkerBootError(s.id, reason, detail, { cause }))
    this.retire(s, undefined, true, `boot failed: ${detail}`)
  }

  private died (s: Slot<H, J>, death: HostDeath): boolean {
    switch (s.state) {
      case 'booting':
        this.bootFailed(s, 'died', deathText(death), death.error)
        return true
      case 'idle':
        this.retire(s, undefined, true, deathText(death))
        return true
      case 'busy':
      case 'draining':
        this.retire(s, { kind: 'died', death }, death.guest !== true, deathText(death))
        return true
      default:
        // replacing: it was asked to go; backing-off, stopped: it has no host.
        return false
    }
  }

  /** The job's deadline (busy, draining) → replacing. */
  private armDeadline (s: Slot<H, J>): void {
    const job = s.job
    // Timers may fire a fraction of a millisecond early (libuv arms them from its cached loop
    // time): re-armed for what is left, so a job is never ended short of its limit.
    const left = s.deadline - this.clock.now()
    s.timer = this.clock.setTimeout(() => {
      s.timer = undefined
      if ((s.state !== 'busy' && s.state !== 'draining') || s.job !== job) return
      if (s.deadline - this.clock.now() > 0) this.armDeadline(s)
      else this.retire(s, { kind: 'deadline' }, false)
    }, Math.max(0, Math.ceil(left)))
  }

  /**
   * The one way a host goes: → replacing; a job still without an outcome gets one (`how`), the
   * host is terminated, then the slot respawns: at once, or after its back-off when `failed`.
   */
  private retire (s: Slot<H, J>, how: JobEnd<R> | undefined, failed: boolean, detail?: string): void {
    const { state, job, host } = s
    this.clearTimer(s)
    s.state = 'replacing'
    s.job = undefined
    const ending = state === 'busy' && job !== undefined && how !== undefined && host !== undefined ? this.end(s, job, how, host) : undefined
    const going = (async () => {
      await ending
      const gone = host === undefined ? true : await this.terminate(host)
      if (!gone) this.components.logger?.error({ slot: s.id, timeoutMs: this.init.terminateTimeoutMs }, 'executor worker did not terminate in time; respawning without it')
      if (this.stopped || s.state !== 'replacing') return
      s.going = undefined
      s.host = undefined
      this.respawn(s, failed || !gone, detail ?? (gone ? '' : 'did not terminate'))
    })()
    s.going = going
  }

  /** The owner's `end`, called at once (a cancelled job hears so before the host is gone); its failure is logged. */
  private async end (s: Slot<H, J>, job: J, how: JobEnd<R>, host: H): Promise<void> {
    try {
      await this.components.end(job, how, host)
    } catch (err) {
      this.components.logger?.error({ err, slot: s.id }, 'executor slot: ending a job failed')
    }
  }

  /** replacing → booting, or → backing-off after a failure. */
  private respawn (s: Slot<H, J>, failed: boolean, detail: string): void {
    if (!failed) { this.spawn(s); return }
    const healthy = s.readyAt !== undefined && this.clock.now() - s.readyAt >= this.init.healthyAfterMs
    s.failures = healthy ? 1 : s.failures + 1
    const delay = respawnDelay(s.failures, this.init.respawnDelayMs, this.init.maxRespawnDelayMs)
    this.components.logger?.warn({ slot: s.id, failures: s.failures, retryInMs: delay, detail }, 'executor worker failed; respawning after back-off')
    s.state = 'backing-off'
    s.timer = this.clock.setTimeout(() => {
      s.timer = undefined
      if (s.state === 'backing-off') this.spawn(s)
    }, delay)
  }

  /** Terminates a host, waiting at most terminateTimeoutMs; false when it did not go in time. */
  private async terminate (host: H): Promise<boolean> {
    let timer: unknown
    const late = new Promise<boolean>((resolve) => { timer = this.clock.setTimeout(() => resolve(false), this.init.terminateTimeoutMs) })
    try {
      return await Promise.race([host.terminate().then(() => true, () => true), late])
    } finally {
      this.clock.clearTimeout(timer)
    }
  }

  private clearTimer (s: Slot<H, J>): void {
    if (s.timer !== undefined) this.clock.clearTimeout(s.timer)
    s.timer = undefined
  }
}

/** Characters of a host's error message kept in the log line and the boot error. */
const DEATH_ERROR_CHARS = 200

/** A death in words for the log and a boot failure: the error's own message is the operator's clue (never a job's detail). */
function deathText (death: HostDeath): string {
  const code = death.exitCode === undefined ? '' : ` with code ${death.exitCode}`
  const error = death.error === undefined ? '' : `: ${String((death.error as Error)?.message ?? death.error).slice(0, DEATH_ERROR_CHARS)}`
  return `${death.detail}${code}${error}`
}
