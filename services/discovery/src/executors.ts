/**
 * The node's local executors, seen from discovery: jobs are spread over all of them (least
 * in-flight first), a module's bytes are sent to an executor only until it has cached them, and
 * a job whose executor vanishes (killed, restarting) or is full moves to the next one. Jobs are
 * pure functions of their inputs and nothing is signed for unfinished work, so moving is safe.
 */
import { ExecutorService, type ExecuteResponse } from '../../core/src/gen/phase/executor/v1/executor_pb.js'
import { createGrpcClient, type GrpcClient } from '../../core/src/grpc/index.ts'
import { QueueFullError, UnavailableError, isPhaseError } from '../../core/src/errors.ts'
import type { Logger } from '../../core/src/logger.ts'

/** How long an executor that failed to answer is skipped before it is tried again. */
export const DEFAULT_DOWN_MS = 500

interface Slot {
  index: number
  client: GrpcClient<typeof ExecutorService>
  inFlight: number
  modules: Set<string>
  downUntil: number
  jobs: number
}

export interface ExecutorSetInit {
  addresses: readonly string[]
  maxMessageBytes?: number
  downMs?: number
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
  private readonly slots: Slot[]
  private readonly log: Logger
  private readonly downMs: number

  constructor (components: { logger: Logger }, init: ExecutorSetInit) {
    this.log = components.logger
    this.downMs = init.downMs ?? DEFAULT_DOWN_MS
    this.slots = init.addresses.map((address, index) => ({
      index,
      client: createGrpcClient(ExecutorService, address, { maxMessageBytes: init.maxMessageBytes, multiplex: true }),
      inFlight: 0,
      modules: new Set<string>(),
      downUntil: 0,
      jobs: 0
    }))
  }

  get size (): number { return this.slots.length }

  /** Jobs completed per executor (for status and the scaling tests). */
  jobCounts (): number[] { return this.slots.map((s) => s.jobs) }

  /**
   * Runs a job on one executor. `loadModule` supplies the bytes when the chosen executor lacks
   * them. Throws QueueFullError when every executor is full, UnavailableError when none answers.
   */
  async execute (request: ExecuteInit, loadModule: () => Promise<Uint8Array>, options: { signal?: AbortSignal, timeoutMs: number }): Promise<ExecuteOutcome> {
    const tried = new Set<number>()
    let full = 0
    let lastError: unknown
    for (let attempt = 0; attempt < this.slots.length; attempt++) {
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
    for (const slot of this.slots) slot.client.close()
  }
}

function rank (slot: Slot, now: number): number {
  return (slot.downUntil > now ? 1_000_000 : 0) + slot.inFlight
}
