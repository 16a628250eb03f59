/**
 * A pool worker thread: instantiates a compiled module with the WASI host and runs `_start`.
 * One job at a time; the pool terminates this thread to stop a job that runs too long, and
 * V8 ends it (ERR_WORKER_OUT_OF_MEMORY) when the guest's heap objects pass the worker's heap cap.
 *
 * Messages to the pool: `ready` once booted; one `result` per job; `idle` when a job whose
 * result was sent early (proc_exit or the output cap, reported from inside the host call so a
 * guest that catches the unwinding cannot change it) has finally left the guest's code.
 * Every message carries the thread's CPU time so far, the pool's base for a job it must kill.
 */
import { parentPort } from 'node:worker_threads'
import { createWasiHost, ExitSignal, OutputLimitSignal, type HostEnd, type WasiHost, type WasiProviders } from './wasi-host.ts'
import { trapReason, type TrapReason } from './trap.ts'
import type { InputFile } from './wasi/memfs.ts'
import { FUEL_EXPORT, GROW_REFUSED_EXPORT, START_EXPORT } from './rewrite/exports.ts'
import { seededRandom } from './seeded-random.ts'
import { collectWhenIdle } from '@phase-network/process/idle-gc'

// Each job's module arrives as a new handle in this isolate, which keeps the compiled code alive
// until this isolate collects; its heap hardly grows, so without this it rarely does (issue 11:
// +19 MiB after 1,000 distinct modules). Runs between jobs only: a job holds this thread.
collectWhenIdle()

export interface RunMessage {
  id: number
  jobId: string
  profile: 'default' | 'deterministic'
  /** The fuel the job runs with; absent: the module is not metered. */
  fuel?: bigint
  module: WebAssembly.Module
  imports: string[]
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  /** Files the guest sees read-only under /in. */
  inputs: InputFile[]
  outputBytes: number
  /** The job's memory cap (what a memory_limit detail names). */
  memoryBytes: number
  /** The most linear memory the module can have (its rewritten maximum). */
  linearMaxBytes: number
}

export type WorkerStatus = 'ok' | 'exit' | 'trap' | 'memory_limit' | 'output_limit' | 'fuel_exhausted'

export interface ResultMessage {
  kind: 'result'
  id: number
  /** True when the worker is free again; false when the result was sent from inside a host call. */
  idle: boolean
  status: WorkerStatus
  /** The WASI u32 given to proc_exit (0 when `_start` returned); -1 when the guest did not exit. */
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  /** Regular files the guest left under /out, sorted by path. */
  outputs: Array<{ path: string, data: Uint8Array }>
  /** Why the guest trapped; only with status `trap`. */
  trap?: TrapReason
  wallTimeUs: number
  cpuTimeUs: number
  startedAt: number
  finishedAt: number
  detail: string
  /** Fuel used, when metered (all of it when exhausted). */
  fuelUsed?: bigint
  /** The thread's CPU time since it started, µs. */
  threadCpuUs: number
}

export interface IdleMessage { kind: 'idle', id: number, threadCpuUs: number }
export interface ReadyMessage { kind: 'ready', threadCpuUs: number }
export type WorkerMessage = ResultMessage | IdleMessage | ReadyMessage

/**
 * The thread's CPU time (µs). RUSAGE_THREAD (threadCpuUsage) reports the kernel's
 * sum_exec_runtime, which for a running thread is only brought up to date at a scheduler tick
 * or a context switch: a job of a few ms read 0. RUSAGE_SELF (process.cpuUsage, ~1 µs) makes
 * the kernel bring the calling thread's figure up to date first (thread_group_cputime calls
 * task_sched_runtime on the current task), so the thread's reading after it is exact.
 */
const threadCpuUs = (): number => { process.cpuUsage(); const u = process.threadCpuUsage(); return u.user + u.system }

function run (msg: RunMessage): void {
  const startedAt = Date.now()
  const t0 = performance.now()
  const cpu0 = threadCpuUs()
  let sent = false
  // The rewriter's globals (rewrite/rewrite.ts): the fuel left, the last grow the cap refused.
  let fuel: WebAssembly.Global | undefined
  let refused: WebAssembly.Global | undefined
  const fuelLeft = (): bigint => fuel === undefined ? 0n : fuel.value as bigint
  const send = (status: WorkerStatus, exitCode: number, detail: string, idle: boolean, trap?: TrapReason): void => {
    sent = true
    const exhausted = msg.fuel !== undefined && fuelLeft() < 0n
    const refusedPages = refused === undefined ? 0 : (refused.value as number) >>> 0
    if (status === 'trap' && exhausted) {
      // Only the injected charge traps with the fuel below zero (the guest cannot write it).
      status = 'fuel_exhausted'
      detail = `fuel limit of ${msg.fuel!} exhausted`
    } else if ((status === 'trap' || status === 'exit') && refusedPages > 0) {
      // memory_limit exactly when the node's cap refused a memory.grow during the job and the
      // job then failed (a guest that recovers and exits 0 is ok).
      status = 'memory_limit'
      detail = `memory.grow of ${refusedPages} pages refused at the cap of ${msg.memoryBytes} bytes`
    }
    const fuelUsed = msg.fuel === undefined ? undefined : exhausted ? msg.fuel : msg.fuel - fuelLeft()
    const cpu = threadCpuUs()
    const outputs = host.outputs()
    const result: ResultMessage = {
      kind: 'result',
      id: msg.id,
      idle,
      status,
      exitCode,
      stdout: host.stdout(),
      stderr: host.stderr(),
      outputs,
      ...(status === 'trap' ? { trap: trap ?? 'other' } : {}),
      wallTimeUs: Math.round((performance.now() - t0) * 1000),
      cpuTimeUs: cpu - cpu0,
      startedAt,
      finishedAt: Date.now(),
      detail,
      fuelUsed,
      threadCpuUs: cpu
    }
    parentPort!.postMessage(result, [result.stdout.buffer as ArrayBuffer, result.stderr.buffer as ArrayBuffer, ...outputs.map((o) => o.data.buffer as ArrayBuffer)])
  }
  const sendEnd = (end: HostEnd, idle: boolean): void => {
    if (end.kind === 'exit') send(end.code === 0 ? 'ok' : 'exit', end.code, '', idle)
    else send('output_limit', -1, end.detail ?? `output passed the cap of ${msg.outputBytes} bytes`, idle)
  }
  // Reported from inside the host call: the guest may catch the unwinding and never return.
  const host: WasiHost = createWasiHost(msg, msg.imports, (end) => sendEnd(end, false), providers(msg, () => msg.fuel! - fuelLeft()))
  let failure: unknown
  let failed = false
  try {
    const instance = new WebAssembly.Instance(msg.module, { wasi_snapshot_preview1: host.imports })
    const memory = instance.exports.memory as WebAssembly.Memory | undefined
    if (!(memory instanceof WebAssembly.Memory)) throw new TypeError('module must export its memory as "memory"')
    refused = instance.exports[GROW_REFUSED_EXPORT] as WebAssembly.Global | undefined
    if (msg.fuel !== undefined) {
      fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global
      fuel.value = msg.fuel
    }
    host.bindMemory(memory)
    const start = instance.exports._start
    if (typeof start !== 'function') throw new TypeError('module must export a "_start" function')
    // The module's start function, run here rather than inside instantiation (see START_EXPORT).
    const init = instance.exports[START_EXPORT]
    if (typeof init === 'function') (init as () => void)()
    ;(start as () => void)()
  } catch (err) {
    failed = true
    failure = err
  }
  if (sent) {
    parentPort!.postMessage({ kind: 'idle', id: msg.id, threadCpuUs: threadCpuUs() } satisfies IdleMessage)
    return
  }
  // The host's record decides; the exception that reached the top only describes a trap.
  const end = host.end()
  if (end !== undefined) sendEnd(end, true)
  else if (!failed) send('ok', 0, '', true)
  else if (failure instanceof ExitSignal || failure instanceof OutputLimitSignal) send('trap', -1, 'host signal without a record', true, 'other')
  else send('trap', -1, String((failure as Error)?.message ?? failure).slice(0, 200), true, trapReason(failure))
}

/**
 * The deterministic profile's clock and randomness: every clock reads the fuel used so far
 * (1 ns per unit, from 0), random bytes come from the job id's seeded stream.
 */
function providers (msg: RunMessage, fuelUsed: () => bigint): WasiProviders {
  if (msg.profile !== 'deterministic') return {}
  const random = seededRandom(msg.jobId)
  // poll_oneoff on a clock does not sleep: the virtual clock moves with fuel only, and real time
  // spent waiting would be time no receipt accounts for.
  return { clockNs: () => fuelUsed(), randomFill: (buf) => random.fill(buf), sleepNs: () => {} }
}

// Outside a worker thread (main.ts loading it to fill the compile cache) it only loads.
if (parentPort !== null) {
  parentPort.on('message', (msg: RunMessage) => run(msg))
  parentPort.postMessage({ kind: 'ready', threadCpuUs: threadCpuUs() } satisfies ReadyMessage)
}
