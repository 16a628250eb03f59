/**
 * A pool slot's host: one worker thread running `worker.ts` (or another script, for tests), its
 * V8 heap capped by the node's memory cap. It turns the thread's events into the slot's
 * (`ready`, `died`) and hands the job messages to the runtime.
 */
import { Worker } from 'node:worker_threads'
import type { WorkerMessage, ResultMessage, IdleMessage } from '../worker.ts'
import { WORKER_HEAP_OVERHEAD_MB, WORKER_YOUNG_GENERATION_MB } from '../pool.ts'
import type { Host, HostDeath } from './host.ts'

/** How long to wait for a killed worker's CPU time before reporting the last one known. */
export const CPU_QUERY_MS = 50
/** The worker script of a slot. */
export const WORKER_SCRIPT = new URL('../worker.ts', import.meta.url)

const MiB = 1024 * 1024

export interface ThreadHost extends Host {
  readonly worker: Worker
  /** The thread's CPU time (µs) when it last said so: the base of a killed job's. */
  threadCpuUs: number
}

export interface ThreadHostInit {
  script: URL
  /** The node's memory cap per job: the worker's old generation is this plus WORKER_HEAP_OVERHEAD_MB. */
  maxMemoryBytes: number
}

export interface ThreadHostEvents {
  ready: () => void
  message: (msg: ResultMessage | IdleMessage) => void
  died: (death: HostDeath) => void
}

export function spawnThread (init: ThreadHostInit, events: ThreadHostEvents): ThreadHost {
  const worker = new Worker(init.script, {
    resourceLimits: {
      maxOldGenerationSizeMb: Math.ceil(init.maxMemoryBytes / MiB) + WORKER_HEAP_OVERHEAD_MB,
      maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB
    }
  })
  const host: ThreadHost = { worker, threadCpuUs: 0, terminate: async () => await worker.terminate() }
  worker.on('message', (msg: WorkerMessage) => {
    host.threadCpuUs = msg.threadCpuUs
    if (msg.kind === 'ready') events.ready()
    else events.message(msg)
  })
  // Always listened to: an 'error' without a listener would throw in this process.
  worker.on('error', (err: Error & { code?: string }) => {
    const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
    events.died({ detail: oom ? 'worker heap cap reached' : 'worker crashed', error: err, guest: oom })
  })
  worker.on('exit', (exitCode) => events.died({ detail: 'worker exited', exitCode }))
  return host
}

/** The thread's CPU time so far (µs), or `fallback` when it is gone or does not answer in time. */
export async function threadCpu (worker: Worker, fallback: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<number>((resolve) => { timer = setTimeout(() => resolve(fallback), CPU_QUERY_MS) })
  try {
    return await Promise.race([worker.cpuUsage().then((u) => u.user + u.system, () => fallback), late])
  } finally {
    clearTimeout(timer)
  }
}
