/**
 * Floors measured in the same run as the node: a bare grpc-js round trip on a unix socket
 * (raw bytes, no protobuf), and a bare in-thread WebAssembly instantiate+run of the same module.
 */
import * as grpc from '@grpc/grpc-js'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createWasiHost } from '../services/executor/src/wasi-host.ts'
import { ExitSignal } from '../services/executor/src/wasi-host.ts'
import { timeSeq } from './stats.ts'

const passthrough = (b: Buffer): Buffer => b

/**
 * Milliseconds per bare unary round trip (sequential, raw bytes) to a grpc-js server in
 * another process over a unix socket — what any local client of a daemon pays at least.
 */
export async function bareGrpcRoundTrips (n: number): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'phase-bench-'))
  const address = `unix:${join(dir, 'echo.sock')}`
  const child = spawn(process.execPath, [new URL('./echo-server.ts', import.meta.url).pathname, address], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`echo server exited with ${code}`)))
  })
  const client = new grpc.Client(address, grpc.credentials.createInsecure())
  const payload = Buffer.alloc(200, 1)
  const call = async (): Promise<void> => await new Promise((resolve, reject) => {
    client.makeUnaryRequest('/bench.Echo/Echo', passthrough, passthrough, payload, (e) => e != null ? reject(e) : resolve())
  })
  try {
    return await timeSeq(n, 200, call)
  } finally {
    client.close()
    child.removeAllListeners('exit')
    child.kill('SIGTERM')
    await rm(dir, { recursive: true, force: true })
  }
}

/** Milliseconds per in-thread instantiate + run of a compiled module (warm: compiled once). */
export async function bareInstantiateRun (bytes: Uint8Array, args: string[], n: number): Promise<number[]> {
  const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)
  return await timeSeq(n, 100, async () => { runOnce(module, args) })
}

/** Milliseconds per cold compile + instantiate + run (a fresh module every time). */
export async function bareColdRun (variants: Uint8Array[], args: string[]): Promise<number[]> {
  const out: number[] = []
  for (const bytes of variants) {
    const t = performance.now()
    runOnce(await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>), args)
    out.push(performance.now() - t)
  }
  return out
}

export function runOnce (module: WebAssembly.Module, args: string[]): Uint8Array {
  const imports = WebAssembly.Module.imports(module).map((i) => i.name)
  const host = createWasiHost({ args, env: {}, stdin: new Uint8Array(), outputBytes: 1 << 20 }, imports)
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: host.imports })
  host.bindMemory(instance.exports.memory as WebAssembly.Memory)
  try {
    (instance.exports._start as () => void)()
  } catch (err) {
    if (!(err instanceof ExitSignal)) throw err
  }
  return host.stdout()
}

/** Milliseconds per postMessage round trip to a worker thread (the executor's job hop). */
export async function bareWorkerRoundTrips (n: number): Promise<number[]> {
  const { Worker } = await import('node:worker_threads')
  const worker = new Worker('require("node:worker_threads").parentPort.on("message", (m) => require("node:worker_threads").parentPort.postMessage(m))', { eval: true })
  try {
    return await timeSeq(n, 200, async () => await new Promise<void>((resolve) => {
      worker.once('message', () => resolve())
      worker.postMessage({ args: ['Hello, World'], stdin: new Uint8Array(0) })
    }))
  } finally {
    await worker.terminate()
  }
}
