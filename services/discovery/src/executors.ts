/**
 * The node's local executors, seen from discovery: short jobs are packed onto the first
 * executor with room and everything else spread over all of them (least in-flight first; see
 * pick()), a module's bytes are sent to an executor only until it has cached them, and
 * a job whose executor is full or unreachable (killed, restarting: the job never reached it)
 * moves to the next one. Jobs are pure functions of their inputs and nothing is signed for
 * unfinished work, so moving is safe.
 *
 * A job whose executor died (or froze) while it held the job may have killed it: it is run again
 * at most once, on another executor, and its module is struck (see quarantine.ts); a module
 * struck by two deaths is refused for a while, so one poison module costs at most two executors.
 * An executor that stops answering (a missed status poll, a missed job deadline, a death) is
 * down until it answers a status poll again; jobs go to the executors that answer, and reach a
 * down one only when no other is left. The jobs held by one that misses two polls in a row
 * (frozen) move to one that answers instead of waiting out their deadline.
 *
 * The set follows the executors that exist: `watch()` looks at the runtime folder for
 * `executors/executor-<index>.sock` files and asks each executor for its status, so executors scaled up or
 * down under pm2 join or leave without restarting discovery, and a new process behind an index
 * counts as a restart.
 */
import { readdir } from 'node:fs/promises'
import { ExecutorService, type ExecuteResponse, type GetStatusResponse } from '@phase-network/rpc/executor/v1'
import { createGrpcClient, type GrpcClient } from '@phase-network/rpc'
import { executorAddress, executorSocketDir } from '@phase-network/process'
import { ExecutorDiedError, ModuleQuarantinedError, QueueFullError, UnavailableError, isPhaseError } from '@phase-network/protocol'
import type { Logger } from '@phase-network/process'
import { Quarantine } from './quarantine.ts'
import { either } from './deadline.ts'

/** How long an executor that failed to answer is skipped before it is tried again. */
export const DEFAULT_DOWN_MS = 500
/** How often watch() looks at the runtime folder and the executors' status. */
export const DEFAULT_WATCH_MS = 1000
/** A status poll not answered within this is a miss: the executor is down (frozen, dead). */
export const DEFAULT_POLL_TIMEOUT_MS = 1000
/** Polls missed in a row after which the executor's jobs move elsewhere. */
const STALLED_AFTER_MISSES = 2
/**
 * Module hashes remembered per executor as cached there (~100 bytes each, so ≤ ~400 KiB per
 * executor); forgetting one costs only sending its bytes again.
 */
const MAX_KNOWN_MODULES = 4096
/**
 * Bytes of a job's input files and module an executor takes in per second at the least (decode,
 * check each file's hash, hand it to a worker; admit, rewrite and compile a module: its main
 * thread's work, ~6 s for a 64 MiB module here). While a job's bytes are that busy, a missed
 * status poll is not a freeze: a client sending big files or a big module must not get its job
 * abandoned (and the module struck, then quarantined) because the executor was reading them.
 * The time an executor answered no poll (stopped, starved of CPU) is added back to the window
 * when it answers again; one still silent when the window ends is frozen.
 */
export const BULK_BYTES_PER_SECOND = 4 * 1024 * 1024
/**
 * A job's bytes below this open no busy window: the executor's work on them is a few ms at most
 * (a 1 MiB module is ~30 ms to admit, rewrite and compile here), far below a status poll's timeout.
 */
const BULK_MIN_BYTES = 1024 * 1024
/** A configured executor whose socket never appears is dropped after this long. */
const NEVER_SEEN_GRACE_MS = 30_000
/**
 * A module whose recent jobs ran under this (their own CPU time, averaged; see runCost) is short: its jobs
 * are packed onto the first executor with room. For such jobs the executor's fixed cost per job
 * (a gRPC message, a hop to its worker thread and back) outweighs the run, and a second process
 * woken for them adds context switches and halves the batching of each, so on a small machine
 * spreading them made 2 executors slower than 1 (issue 11: 2,164 vs 2,387 jobs/s on 2 cores).
 */
const SHORT_JOB_US = 2000
/**
 * Short jobs stay on one executor while the queue they build there costs less than this much
 * waiting: in flight × (run time + the executor's own cost per job) / workers. Past it, the next
 * executor takes them too (hello, ~0.2 ms a job all told: ~20 in flight per worker).
 */
const PACK_WAIT_US = 4000
/** The executor's own cost per job beside the run: a message in, a hop to the worker and back, a message out. */
const EXECUTOR_COST_US = 150
/** Modules whose run time is remembered (~200 bytes each, so ≤ ~800 KiB); unknown ones are spread. */
const MAX_RUN_TIMES = 4096
/**
 * Weight of one job's cost (see runCost) in its module's moving average (a quarter: one outlier moves the
 * average little, a real change shows within a few jobs).
 */
const RUN_TIME_WEIGHT = 1 / 4
/**
 * Rank added to an executor that is down or recently unreachable: more than any count of jobs in
 * flight, so such an executor is picked only when no other is left.
 */
const DOWN_RANK = 1_000_000
/** How grpc-js words a call that found no connection to the executor (so never reached it). */
const NO_CONNECTION = /^No connection established/
/** The socket files watch() follows: `executor-<index>.sock`, index 0–999 (config caps executors far below). */
const EXECUTOR_SOCKET_NAME = /^executor-([0-9]{1,3})\.sock$/

/** What the set uses of one executor's gRPC client (tests pass small fakes). */
export type ExecutorClient = Pick<GrpcClient<typeof ExecutorService>, 'execute' | 'getStatus' | 'close'>

export interface ExecutorSetComponents {
  logger: Logger
  /** Opens a client to the executor at `address`. Default: a multiplexed grpc-js client. */
  connect?: (address: string, init: { maxMessageBytes?: number }) => ExecutorClient
}

/** The real client: one multiplexed channel per executor (see rpc/mux.ts). */
function connectGrpc (address: string, init: { maxMessageBytes?: number }): ExecutorClient {
  return createGrpcClient(ExecutorService, address, { maxMessageBytes: init.maxMessageBytes, multiplex: true })
}

interface Slot {
  index: number
  client: ExecutorClient
  inFlight: number
  modules: Set<string>
  downUntil: number
  /** Stopped answering (missed poll or deadline, died): skipped until a status poll succeeds. */
  down: boolean
  /** Aborted when the executor misses status polls in a row: its jobs move to one that answers. */
  stalled: AbortController
  /** Status polls missed in a row. */
  misses: number
  /** Until then (ms since epoch) the executor is busy taking in input files or a module: no freeze is called. */
  bulkUntil: number
  /** Latest the window may be moved to by silences given back: twice its own length past its start. */
  bulkCap: number
  /** When the first of the status polls it is missing now began (ms since epoch); 0 while it answers. */
  silentSince: number
  /** Bumped at each death seen, so the jobs that were on it strike their modules once per death. */
  generation: number
  jobs: number
  /** Its socket file has been seen in the runtime folder. */
  seen: boolean
  /** Left the set: close the client once the last job is back. */
  removed: boolean
  /** The last status the executor gave, and when. */
  status: GetStatusResponse | undefined
  pid: number
  restarts: number
  answering: boolean
}

/** One executor as status pages show it. */
export interface ExecutorView {
  index: number
  up: boolean
  /** up; starting until it first answers; down when it stopped answering. */
  state: 'up' | 'starting' | 'down'
  status: GetStatusResponse | undefined
  restarts: number
  dispatched: number
}

export interface ExecutorSetInit {
  addresses: readonly string[]
  maxMessageBytes?: number
  downMs?: number
  /** How long a module whose jobs killed two executors is refused. Default: 10 min. */
  quarantineMs?: number
}

export interface ExecutorWatchInit {
  runtimeDir: string
  intervalMs?: number
  /** Status poll deadline. Default: 1000 ms. */
  pollTimeoutMs?: number
  /** Called when an executor index is served by a new process. */
  onRestart?: (index: number) => void
}

/** One job for an executor, without the module bytes (those are sent only when needed). */
export interface ExecuteInit {
  jobId: string
  moduleHash: string
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  limits: { memoryBytes: bigint, timeoutMs: number, outputBytes: bigint, fuel?: bigint }
  /** '' or 'default', or 'deterministic'. */
  profile?: string
  /** Input files (path under /in, hash, bytes), sent with every run of the job. */
  inputs?: Array<{ path: string, hash: string, data: Uint8Array }>
}

export interface ExecuteOutcome {
  response: ExecuteResponse
  executor: number
}

export class ExecutorSet {
  private slots: Slot[] = []
  private readonly log: Logger
  private readonly connect: NonNullable<ExecutorSetComponents['connect']>
  private readonly downMs: number
  private readonly maxMessageBytes: number | undefined
  private readonly createdAt = Date.now()
  private timer: NodeJS.Timeout | undefined
  private scanning: Promise<void> | undefined
  private readonly quarantine: Quarantine
  /** Recent cost (µs, moving average) of each module's jobs, oldest module first. */
  private readonly runTimes = new Map<string, number>()

  constructor (components: ExecutorSetComponents, init: ExecutorSetInit) {
    this.log = components.logger
    this.connect = components.connect ?? connectGrpc
    this.downMs = init.downMs ?? DEFAULT_DOWN_MS
    this.quarantine = new Quarantine({ ms: init.quarantineMs })
    this.maxMessageBytes = init.maxMessageBytes
    init.addresses.forEach((address, index) => this.add(index, address))
  }

  get size (): number { return this.slots.length }

  /** Jobs completed per executor (for status and the scaling tests). */
  jobCounts (): number[] { return this.slots.map((s) => s.jobs) }

  /** Executors in the set, by index, with what they last said about themselves. */
  views (): ExecutorView[] {
    return this.slots.map((s) => ({ index: s.index, up: s.answering, state: s.answering && !s.down ? 'up' : s.pid === 0 && !s.down ? 'starting' : 'down', status: s.status, restarts: s.restarts, dispatched: s.jobs }))
  }

  /** Jobs waiting in executor queues, as last reported. */
  queueDepth (): number {
    let n = 0
    for (const s of this.slots) n += s.status?.queued ?? 0
    return n
  }

  /** Follows the executors in `runtimeDir` (see the file comment) until close(). */
  watch (init: ExecutorWatchInit): void {
    if (this.timer !== undefined) return
    const tick = (): void => {
      this.scanning ??= this.scan(init).catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'executor scan failed')
      }).finally(() => { this.scanning = undefined })
    }
    this.timer = setInterval(tick, init.intervalMs ?? DEFAULT_WATCH_MS)
    this.timer.unref()
    tick()
  }

  /** One look at the runtime folder and the executors; resolves when done. */
  async scan (init: ExecutorWatchInit): Promise<void> {
    let names: string[]
    try {
      names = await readdir(executorSocketDir(init.runtimeDir))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      names = []
    }
    const present = new Set<number>()
    for (const name of names) {
      const m = EXECUTOR_SOCKET_NAME.exec(name)
      if (m !== null) present.add(Number(m[1]))
    }
    for (const index of present) {
      const slot = this.slots.find((s) => s.index === index)
      if (slot === undefined) {
        this.add(index, executorAddress(init.runtimeDir, index)).seen = true
        this.log.info({ executor: index }, 'executor joined')
      } else {
        slot.seen = true
      }
    }
    const now = Date.now()
    for (const slot of [...this.slots]) {
      if (present.has(slot.index)) continue
      if (slot.seen || now - this.createdAt > NEVER_SEEN_GRACE_MS) {
        this.remove(slot)
        this.log.info({ executor: slot.index }, 'executor left')
      }
    }
    // Only executors whose socket exists: a status call to one still starting would put its
    // channel into reconnect back-off, and the first jobs would find it "unavailable".
    await Promise.all(this.slots.filter((slot) => present.has(slot.index)).map(async (slot) => await this.poll(slot, init)))
  }

  private async poll (slot: Slot, init: ExecutorWatchInit): Promise<void> {
    const asked = Date.now()
    try {
      const status = await slot.client.getStatus({}, { timeoutMs: init.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS })
      const pid = status.process?.pid ?? 0
      if (slot.pid !== 0 && pid !== 0 && pid !== slot.pid) {
        slot.restarts++
        slot.modules.clear()
        this.log.warn({ executor: slot.index, pid, previousPid: slot.pid }, 'executor restarted')
        endBulk(slot)
        init.onRestart?.(slot.index)
      }
      if (pid !== 0) slot.pid = pid
      slot.status = status
      slot.answering = true
      if (slot.down) this.log.info({ executor: slot.index }, 'executor answers again')
      slot.down = false
      slot.misses = 0
      // The time it could not be seen working (stopped, starved of CPU) does not use up the
      // window of a job's bytes: the window is what the work takes, not a wall-clock deadline.
      if (slot.silentSince !== 0 && slot.bulkUntil > slot.silentSince) slot.bulkUntil = Math.min(slot.bulkCap, slot.bulkUntil + Date.now() - slot.silentSince)
      slot.silentSince = 0
    } catch {
      slot.answering = false
      if (slot.silentSince === 0) slot.silentSince = asked
      slot.misses++
      if (!slot.down) this.log.warn({ executor: slot.index }, 'executor missed a status poll, marked down')
      slot.down = true
      if (slot.misses !== STALLED_AFTER_MISSES) return
      if (Date.now() < slot.bulkUntil) {
        // Busy with a job's input files or module: down for new jobs, but its jobs stay (see BULK_BYTES_PER_SECOND).
        slot.misses--
        this.log.warn({ executor: slot.index, inFlight: slot.inFlight }, 'executor missed status polls while taking in input files or a module: its jobs stay for now')
        return
      }
      // Frozen or dead, it holds its jobs: they go elsewhere (a late answer is never used). One
      // miss alone may be a busy event loop; the second means the jobs would wait their deadline.
      this.log.warn({ executor: slot.index, inFlight: slot.inFlight }, 'executor stopped answering, its jobs move')
      slot.stalled.abort()
      endBulk(slot)
      slot.stalled = new AbortController()
    }
  }

  private add (index: number, address: string): Slot {
    const slot: Slot = {
      index,
      client: this.connect(address, { maxMessageBytes: this.maxMessageBytes }),
      inFlight: 0,
      modules: new Set<string>(),
      downUntil: 0,
      down: false,
      stalled: new AbortController(),
      misses: 0,
      bulkUntil: 0,
      bulkCap: 0,
      silentSince: 0,
      generation: 0,
      jobs: 0,
      seen: false,
      removed: false,
      status: undefined,
      pid: 0,
      restarts: 0,
      answering: false
    }
    this.slots = [...this.slots, slot].sort((a, b) => a.index - b.index)
    return slot
  }

  private remove (slot: Slot): void {
    this.slots = this.slots.filter((s) => s !== slot)
    slot.removed = true
    if (slot.inFlight === 0) slot.client.close()
  }

  /**
   * Runs a job on one executor. `loadModule` supplies the bytes when the chosen executor lacks
   * them. Throws QueueFullError when every executor is full, UnavailableError when none answers,
   * DeadlineExceededError when the executor missed the deadline (it is then marked down),
   * ExecutorDiedError when the executor died or froze with the job (after at most one more run
   * elsewhere), ModuleQuarantinedError for a module whose jobs killed executors.
   */
  async execute (request: ExecuteInit, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, timeoutMs: number }): Promise<ExecuteOutcome> {
    const tried = new Set<number>()
    let full = 0
    let lastError: unknown
    let died: unknown
    for (;;) {
      if (this.quarantine.has(request.moduleHash)) throw new ModuleQuarantinedError(`module ${request.moduleHash} killed executors; it is refused for now`)
      const slot = this.pick(tried, this.packCost(request.moduleHash))
      if (slot === undefined) break
      tried.add(slot.index)
      const generation = slot.generation
      const stalled = slot.stalled.signal
      slot.inFlight++
      const link = options.signal === undefined ? undefined : either(options.signal, stalled)
      try {
        const signal = link?.signal ?? stalled
        const response = await this.call(slot, request, loadModule, { ...options, signal })
        slot.jobs++
        this.recordRunTime(request.moduleHash, runCost(response))
        return { response, executor: slot.index }
      } catch (err) {
        lastError = err
        if (isPhaseError(err, 'queue_full')) { full++; continue }
        // Frozen (two missed polls) or dead, the executor lost the job, maybe because of it.
        const lost = stalled.aborted && options.signal?.aborted !== true
        if (!lost) {
          if (isPhaseError(err, 'deadline_exceeded')) {
            // Its own wall-time limit ends a job well before this deadline: the executor is stuck.
            this.markDown(slot, 'missed a job deadline')
            throw err
          }
          if (!isPhaseError(err, 'unavailable') && !isPhaseError(err, 'internal')) throw err
          if (neverReached(err)) {
            // The job never reached this executor (dead, restarting): moving it costs nothing.
            slot.modules.clear()
            slot.downUntil = Date.now() + this.downMs
            this.log.warn({ executor: slot.index, err: (err as Error).message }, 'executor unreachable, trying the next one')
            continue
          }
        }
        // A death or a freeze strikes the module (a module that hangs its executor is as
        // poisonous as one that kills it). An internal error from a live executor is neither;
        // it too is run again at most once.
        if ((lost || isPhaseError(err, 'unavailable')) && this.quarantine.strike(request.moduleHash, this.died(slot, generation))) {
          this.log.error({ executor: slot.index, moduleHash: request.moduleHash }, 'module quarantined: its jobs were running when two executors died or froze')
          throw new ExecutorDiedError(`executor ${slot.index} died or froze running this job; module ${request.moduleHash} is now quarantined`, { cause: err })
        }
        if (died !== undefined) throw new ExecutorDiedError(`executor ${slot.index} died or froze running this job, which was already run again once`, { cause: err })
        died = err
        this.log.warn({ executor: slot.index, err: (err as Error).message }, 'executor died or froze with a job, running it once more elsewhere')
      } finally {
        link?.clear()
        slot.inFlight--
        if (slot.removed && slot.inFlight === 0) slot.client.close()
      }
    }
    if (died !== undefined) throw new ExecutorDiedError('the executor died or froze running this job and no other executor could run it again', { cause: died })
    if (full > 0 && full === tried.size) throw new QueueFullError('all executors are busy, retry later')
    throw new UnavailableError('no executor is available', { cause: lastError })
  }

  /** Marks a slot down until its next answered status poll. */
  private markDown (slot: Slot, why: string): void {
    if (!slot.down) this.log.warn({ executor: slot.index }, `executor ${why}, marked down`)
    slot.down = true
    slot.answering = false
  }

  /** Records a death of the process behind `slot` as seen by a job sent at `generation`. */
  private died (slot: Slot, generation: number): string {
    if (slot.generation === generation) {
      slot.generation++
      slot.modules.clear()
      this.markDown(slot, 'died')
      endBulk(slot)
    }
    return `${slot.index}:${generation}`
  }

  private async call (slot: Slot, request: ExecuteInit, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, timeoutMs: number }): Promise<ExecuteResponse> {
    const send = async (withModule: boolean): Promise<ExecuteResponse> => {
      const module = withModule ? await loadModule() : undefined
      const bulk = (request.inputs ?? []).reduce((n, f) => n + f.data.byteLength, module?.byteLength ?? 0)
      if (bulk >= BULK_MIN_BYTES) {
        const ms = Math.ceil(bulk / BULK_BYTES_PER_SECOND * 1000)
        const now = Date.now()
        slot.bulkUntil = Math.max(slot.bulkUntil, now + ms)
        slot.bulkCap = Math.max(slot.bulkCap, now + 2 * ms)
      }
      return await slot.client.execute({ ...request, module }, { signal: options.signal, timeoutMs: options.timeoutMs })
    }
    const known = slot.modules.has(request.moduleHash)
    try {
      const response = await send(!known)
      remember(slot.modules, request.moduleHash)
      return response
    } catch (err) {
      if (!known || !isPhaseError(err, 'module_not_cached')) throw err
      slot.modules.delete(request.moduleHash)
      const response = await send(true)
      remember(slot.modules, request.moduleHash)
      return response
    }
  }

  /**
   * A short job (its module's recent runs were short) goes to the lowest-index executor that
   * answers and whose queue of short jobs would cost it less than PACK_WAIT_US of waiting: one
   * warm executor takes short work until it has a real queue, and only then the next one. Any other job — long, or
   * of a module not seen yet — goes to the least in-flight, ties to the lowest index, so long
   * jobs never queue on one executor while another idles. A down executor is picked only when
   * none answers (a poll missed under heavy load must not refuse work a slow executor would
   * still do).
   */
  private pick (tried: ReadonlySet<number>, packUs?: number): Slot | undefined {
    const now = Date.now()
    // While any executor answers, a down one gets nothing (better queue_full than a frozen wait).
    const anyUp = this.slots.some((s) => !s.down)
    let best: Slot | undefined
    for (const slot of this.slots) {
      if (tried.has(slot.index) || (anyUp && slot.down)) continue
      if (packUs !== undefined && rank(slot, now) * packUs < PACK_WAIT_US * Math.max(1, slot.status?.workers ?? 1)) return slot
      if (best === undefined || rank(slot, now) < rank(best, now)) best = slot
    }
    return best
  }

  /** For a short job (its module's recent runs were short), its cost to an executor in µs; else undefined. */
  private packCost (moduleHash: string): number | undefined {
    const us = this.runTimes.get(moduleHash)
    return us !== undefined && us < SHORT_JOB_US ? us + EXECUTOR_COST_US : undefined
  }

  /** Folds one job's cost into its module's average (see RUN_TIME_WEIGHT). */
  private recordRunTime (moduleHash: string, costUs: number): void {
    if (!Number.isFinite(costUs)) return
    const previous = this.runTimes.get(moduleHash)
    if (previous === undefined) {
      if (this.runTimes.size >= MAX_RUN_TIMES) this.runTimes.delete(this.runTimes.keys().next().value!)
      this.runTimes.set(moduleHash, costUs)
    } else {
      this.runTimes.set(moduleHash, previous + (costUs - previous) * RUN_TIME_WEIGHT)
    }
  }

  /** Modules whose run time is remembered (tests prove the bound). */
  get rememberedRunTimes (): number { return this.runTimes.size }

  close (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    for (const slot of this.slots) slot.client.close()
  }
}

/** Adds `hash` as the newest entry, dropping the oldest beyond the bound. */
function remember (known: Set<string>, hash: string): void {
  known.delete(hash)
  known.add(hash)
  if (known.size > MAX_KNOWN_MODULES) known.delete(known.values().next().value!)
}

function rank (slot: Slot, now: number): number {
  return (slot.down || slot.downUntil > now ? DOWN_RANK : 0) + slot.inFlight
}

/**
 * What a finished job cost its executor, in µs: its CPU time, which a busy machine hardly moves
 * (the wall time of a 0.2 ms job there can pass SHORT_JOB_US and mark a short module long); the
 * wall time when no CPU time was reported.
 */
function runCost (response: { wallTimeUs: bigint, cpuTimeUs: bigint }): number {
  return response.cpuTimeUs > 0n ? Number(response.cpuTimeUs) : Number(response.wallTimeUs)
}

/**
 * True when a failed call never reached the executor: grpc-js found no connection (socket gone,
 * refused). A call that was on a connection that then dropped may have been running.
 */
function neverReached (err: unknown): boolean {
  return NO_CONNECTION.test((err as Error).message)
}

/** A busy window ends with the jobs it was opened for: the executor froze, died or restarted. */
function endBulk (slot: Slot): void {
  slot.bulkUntil = 0
  slot.bulkCap = 0
  slot.silentSince = 0
}
