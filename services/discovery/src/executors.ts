/**
 * The node's local executors, seen from discovery: jobs are spread over all of them (least
 * in-flight first), a module's bytes are sent to an executor only until it has cached them, and
 * a job whose executor vanishes (killed, restarting) or is full moves to the next one. Jobs are
 * pure functions of their inputs and nothing is signed for unfinished work, so moving is safe.
 *
 * The set follows the executors that exist: `watch()` looks at the runtime folder for
 * `executors/executor-<index>.sock` files and asks each executor for its status, so executors scaled up or
 * down under pm2 join or leave without restarting discovery, and a new process behind an index
 * counts as a restart.
 */
import { readdir } from 'node:fs/promises'
import { ExecutorService, type ExecuteResponse, type GetStatusResponse } from '../../core/src/gen/phase/executor/v1/executor_pb.js'
import { createGrpcClient, type GrpcClient } from '../../core/src/grpc/index.ts'
import { executorAddress, executorSocketDir } from '../../core/src/config.ts'
import { QueueFullError, UnavailableError, isPhaseError } from '../../core/src/errors.ts'
import type { Logger } from '../../core/src/logger.ts'

/** How long an executor that failed to answer is skipped before it is tried again. */
export const DEFAULT_DOWN_MS = 500
/** How often watch() looks at the runtime folder and the executors' status. */
export const DEFAULT_WATCH_MS = 1000
/** A configured executor whose socket never appears is dropped after this long. */
const NEVER_SEEN_GRACE_MS = 30_000

interface Slot {
  index: number
  client: GrpcClient<typeof ExecutorService>
  inFlight: number
  modules: Set<string>
  downUntil: number
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
}

export interface ExecutorWatchInit {
  runtimeDir: string
  intervalMs?: number
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
  limits: { memoryBytes: bigint, timeoutMs: number, outputBytes: bigint }
}

export interface ExecuteOutcome {
  response: ExecuteResponse
  executor: number
}

export class ExecutorSet {
  private slots: Slot[] = []
  private readonly log: Logger
  private readonly downMs: number
  private readonly maxMessageBytes: number | undefined
  private readonly createdAt = Date.now()
  private timer: NodeJS.Timeout | undefined
  private scanning: Promise<void> | undefined

  constructor (components: { logger: Logger }, init: ExecutorSetInit) {
    this.log = components.logger
    this.downMs = init.downMs ?? DEFAULT_DOWN_MS
    this.maxMessageBytes = init.maxMessageBytes
    init.addresses.forEach((address, index) => this.add(index, address))
  }

  get size (): number { return this.slots.length }

  /** Jobs completed per executor (for status and the scaling tests). */
  jobCounts (): number[] { return this.slots.map((s) => s.jobs) }

  /** Executors in the set, by index, with what they last said about themselves. */
  views (): ExecutorView[] {
    return this.slots.map((s) => ({ index: s.index, up: s.answering, state: s.answering ? 'up' : s.pid === 0 ? 'starting' : 'down', status: s.status, restarts: s.restarts, dispatched: s.jobs }))
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
      const m = /^executor-([0-9]{1,3})\.sock$/.exec(name)
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
    try {
      const status = await slot.client.getStatus({}, { timeoutMs: 1000 })
      const pid = status.process?.pid ?? 0
      if (slot.pid !== 0 && pid !== 0 && pid !== slot.pid) {
        slot.restarts++
        slot.modules.clear()
        this.log.warn({ executor: slot.index, pid, previousPid: slot.pid }, 'executor restarted')
        init.onRestart?.(slot.index)
      }
      if (pid !== 0) slot.pid = pid
      slot.status = status
      slot.answering = true
    } catch {
      slot.answering = false
    }
  }

  private add (index: number, address: string): Slot {
    const slot: Slot = {
      index,
      client: createGrpcClient(ExecutorService, address, { maxMessageBytes: this.maxMessageBytes, multiplex: true }),
      inFlight: 0,
      modules: new Set<string>(),
      downUntil: 0,
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
   * them. Throws QueueFullError when every executor is full, UnavailableError when none answers.
   */
  async execute (request: ExecuteInit, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, timeoutMs: number }): Promise<ExecuteOutcome> {
    const tried = new Set<number>()
    let full = 0
    let lastError: unknown
    const attempts = this.slots.length
    for (let attempt = 0; attempt < attempts; attempt++) {
      const slot = this.pick(tried)
      if (slot === undefined) break
      tried.add(slot.index)
      slot.inFlight++
      try {
        const response = await this.call(slot, request, loadModule, options)
        slot.jobs++
        return { response, executor: slot.index }
      } catch (err) {
        lastError = err
        if (isPhaseError(err, 'queue_full')) { full++; continue }
        if (isPhaseError(err, 'unavailable') || isPhaseError(err, 'internal')) {
          // The executor died or restarts: its cache is gone, and the job goes elsewhere.
          slot.modules.clear()
          slot.downUntil = Date.now() + this.downMs
          this.log.warn({ executor: slot.index, err: (err as Error).message }, 'executor failed, trying the next one')
          continue
        }
        throw err
      } finally {
        slot.inFlight--
        if (slot.removed && slot.inFlight === 0) slot.client.close()
      }
    }
    if (full > 0 && full === tried.size) throw new QueueFullError('all executors are busy, retry later')
    throw new UnavailableError('no executor is available', { cause: lastError })
  }

  private async call (slot: Slot, request: ExecuteInit, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, timeoutMs: number }): Promise<ExecuteResponse> {
    const send = async (withModule: boolean): Promise<ExecuteResponse> => {
      const module = withModule ? await loadModule() : undefined
      return await slot.client.execute({ ...request, module }, { signal: options.signal, timeoutMs: options.timeoutMs })
    }
    const known = slot.modules.has(request.moduleHash)
    try {
      const response = await send(!known)
      slot.modules.add(request.moduleHash)
      return response
    } catch (err) {
      if (!known || !isPhaseError(err, 'module_not_cached')) throw err
      slot.modules.delete(request.moduleHash)
      const response = await send(true)
      slot.modules.add(request.moduleHash)
      return response
    }
  }

  /**
   * Least in-flight among executors that are not marked down; ties go to the lowest index.
   * A light load thus stays on one warm executor (its threads awake, its caches hot), and
   * load spreads as soon as jobs overlap.
   */
  private pick (tried: ReadonlySet<number>): Slot | undefined {
    const now = Date.now()
    let best: Slot | undefined
    for (const slot of this.slots) {
      if (tried.has(slot.index)) continue
      if (best === undefined || rank(slot, now) < rank(best, now)) best = slot
    }
    return best
  }

  close (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    for (const slot of this.slots) slot.client.close()
  }
}

function rank (slot: Slot, now: number): number {
  return (slot.downUntil > now ? 1_000_000 : 0) + slot.inFlight
}
