/**
 * A pool worker thread: instantiates a compiled module with the WASI host and runs `_start`.
 * One job at a time; the pool terminates this thread to stop a job that runs too long.
 */
import { parentPort } from 'node:worker_threads'
import { createWasiHost, ExitSignal, OutputLimitSignal } from './wasi-host.ts'

export interface RunMessage {
  id: number
  module: WebAssembly.Module
  imports: string[]
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  outputBytes: number
  memoryBytes: number
}

export interface ResultMessage {
  id: number
  status: 'ok' | 'exit' | 'trap' | 'memory_limit' | 'output_limit'
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  wallTimeUs: number
  cpuTimeUs: number
  startedAt: number
  finishedAt: number
  detail: string
}

function run (msg: RunMessage): ResultMessage {
  const host = createWasiHost(msg, msg.imports)
  const startedAt = Date.now()
  const t0 = performance.now()
  const cpu0 = process.threadCpuUsage()
  let status: ResultMessage['status'] = 'ok'
  let exitCode = 0
  let detail = ''
  let memory: WebAssembly.Memory | undefined
  try {
    const instance = new WebAssembly.Instance(msg.module, { wasi_snapshot_preview1: host.imports })
    memory = instance.exports.memory as WebAssembly.Memory | undefined
    if (!(memory instanceof WebAssembly.Memory)) throw new TypeError('module must export its memory as "memory"')
    host.bindMemory(memory)
    const start = instance.exports._start
    if (typeof start !== 'function') throw new TypeError('module must export a "_start" function')
    ;(start as () => void)()
  } catch (err) {
    if (err instanceof ExitSignal) {
      exitCode = err.code | 0
      status = exitCode === 0 ? 'ok' : 'exit'
    } else if (err instanceof OutputLimitSignal) {
      status = 'output_limit'
      exitCode = -1
      detail = `output passed the cap of ${msg.outputBytes} bytes`
    } else {
      status = 'trap'
      exitCode = -1
      detail = String((err as Error)?.message ?? err).slice(0, 200)
    }
  }
  // A guest that failed with its memory (nearly) at the cap ran out of memory, whatever it
  // reported: a refused memory.grow is invisible to the host, and allocators grow in steps.
  if ((status === 'trap' || status === 'exit') && memory !== undefined && memory.buffer.byteLength > msg.memoryBytes * 7 / 8) {
    status = 'memory_limit'
    detail = `memory reached the cap of ${msg.memoryBytes} bytes`
  }
  const cpu = process.threadCpuUsage(cpu0)
  return {
    id: msg.id,
    status,
    exitCode,
    stdout: host.stdout(),
    stderr: host.stderr(),
    wallTimeUs: Math.round((performance.now() - t0) * 1000),
    cpuTimeUs: cpu.user + cpu.system,
    startedAt,
    finishedAt: Date.now(),
    detail
  }
}

parentPort!.on('message', (msg: RunMessage) => {
  const result = run(msg)
  parentPort!.postMessage(result, [result.stdout.buffer as ArrayBuffer, result.stderr.buffer as ArrayBuffer])
})
parentPort!.postMessage({ ready: true })
