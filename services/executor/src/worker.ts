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
import { createWasiHost, ExitSignal, OutputLimitSignal, type HostEnd, type WasiHost } from './wasi-host.ts'
import { collectWhenIdle } from '../../core/src/idle-gc.ts'

// Each job's module arrives as a new handle in this isolate, which keeps the compiled code alive
// until this isolate collects; its heap hardly grows, so without this it rarely does (issue 11:
// +19 MiB after 1,000 distinct modules). Runs between jobs only: a job holds this thread.
collectWhenIdle()

export interface RunMessage {
  id: number
  module: WebAssembly.Module
  imports: string[]
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  outputBytes: number
  /** The job's memory cap (what a memory_limit detail names). */
  memoryBytes: number
  /** The most linear memory the module can have (its rewritten maximum). */
  linearMaxBytes: number
}

export type WorkerStatus = 'ok' | 'exit' | 'trap' | 'memory_limit' | 'output_limit'

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
  wallTimeUs: number
  cpuTimeUs: number
  startedAt: number
  finishedAt: number
  detail: string
  /** The thread's CPU time since it started, µs. */
  threadCpuUs: number
}

export interface IdleMessage { kind: 'idle', id: number, threadCpuUs: number }
export interface ReadyMessage { kind: 'ready', threadCpuUs: number }
export type WorkerMessage = ResultMessage | IdleMessage | ReadyMessage

const threadCpuUs = (): number => { const u = process.threadCpuUsage(); return u.user + u.system }

function run (msg: RunMessage): void {
  const startedAt = Date.now()
  const t0 = performance.now()
  const cpu0 = threadCpuUs()
  let memory: WebAssembly.Memory | undefined
  let sent = false
  const send = (status: WorkerStatus, exitCode: number, detail: string, idle: boolean): void => {
    sent = true
    // A guest that failed with its memory (nearly) at the cap ran out of memory, whatever it
    // reported: a refused memory.grow is invisible to the host, and allocators grow in steps.
    if ((status === 'trap' || status === 'exit') && memory !== undefined && memory.buffer.byteLength > msg.linearMaxBytes * 7 / 8) {
      status = 'memory_limit'
      detail = `memory reached the cap of ${msg.memoryBytes} bytes`
    }
    const cpu = threadCpuUs()
    const result: ResultMessage = {
      kind: 'result',
      id: msg.id,
      idle,
      status,
      exitCode,
      stdout: host.stdout(),
      stderr: host.stderr(),
      wallTimeUs: Math.round((performance.now() - t0) * 1000),
      cpuTimeUs: cpu - cpu0,
      startedAt,
      finishedAt: Date.now(),
      detail,
      threadCpuUs: cpu
    }
    parentPort!.postMessage(result, [result.stdout.buffer as ArrayBuffer, result.stderr.buffer as ArrayBuffer])
  }
  const sendEnd = (end: HostEnd, idle: boolean): void => {
    if (end.kind === 'exit') send(end.code === 0 ? 'ok' : 'exit', end.code, '', idle)
    else send('output_limit', -1, `output passed the cap of ${msg.outputBytes} bytes`, idle)
  }
  // Reported from inside the host call: the guest may catch the unwinding and never return.
  const host: WasiHost = createWasiHost(msg, msg.imports, (end) => sendEnd(end, false))
  let failure: unknown
  let failed = false
  try {
    const instance = new WebAssembly.Instance(msg.module, { wasi_snapshot_preview1: host.imports })
    memory = instance.exports.memory as WebAssembly.Memory | undefined
    if (!(memory instanceof WebAssembly.Memory)) throw new TypeError('module must export its memory as "memory"')
    host.bindMemory(memory)
    const start = instance.exports._start
    if (typeof start !== 'function') throw new TypeError('module must export a "_start" function')
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
  else if (failure instanceof ExitSignal || failure instanceof OutputLimitSignal) send('trap', -1, 'host signal without a record', true)
  else send('trap', -1, String((failure as Error)?.message ?? failure).slice(0, 200), true)
}

parentPort!.on('message', (msg: RunMessage) => run(msg))
parentPort!.postMessage({ kind: 'ready', threadCpuUs: threadCpuUs() } satisfies ReadyMessage)
