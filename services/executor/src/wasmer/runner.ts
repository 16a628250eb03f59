/**
 * A wasmer runner: a child process of the executor that runs jobs, one at a time, with
 * `@wasmer/sdk` (Wasmer + WASIX compiled to WebAssembly, guests compiled by this process's V8).
 * It is a process of its own because the SDK cannot stop a runaway guest: after a timeout or a
 * kill the guest keeps a core busy and `close()` hangs. The parent (wasmer-runtime.ts) kills
 * this process (SIGKILL) at a job's deadline, or when its memory passes a bound, and starts a
 * fresh one.
 *
 * Each job gets a fresh sandbox with networking disabled, so nothing one job writes in the
 * sandbox's (in-memory) file system is seen by the next. Modules arrive already admitted (memory
 * maximum rewritten to the job's cap), are checked for the exports a WASI command needs (a
 * module without a memory makes the SDK's worker fail), and are kept as packages by key, least
 * recently used first, within `PHASE_WASMER_CACHE_BYTES` of module bytes.
 */
import { Wasmer, type Package } from '@wasmer/sdk/node'
import { trapReasonOfMessage } from '../trap.ts'
import type { RunnerJob, RunnerMessage, RunnerResult } from './messages.ts'

/** How long a finished job's sandbox may take to close before this runner counts as unclean. */
const CLOSE_MS = 2000
const cacheBytes = Number(process.env.PHASE_WASMER_CACHE_BYTES ?? 256 * 1024 * 1024)

const send = (msg: RunnerMessage): void => { process.send!(msg) }

// No package registry, no disk cache: only the bytes the parent sends are ever run.
const wasmer = new Wasmer({ cache: false, parallelism: 1 })
await wasmer.ready()

const packages = new Map<string, { pkg: Package, bytes: number }>()
let heldBytes = 0

/** The package of a job's module: cached, or validated and loaded from the bytes sent. */
async function packageOf (job: RunnerJob): Promise<{ pkg: Package, compileTimeUs?: number } | 'missing' | { refused: string }> {
  const hit = packages.get(job.key)
  if (hit !== undefined) {
    packages.delete(job.key)
    packages.set(job.key, hit)
    return { pkg: hit.pkg }
  }
  if (job.module === undefined) return 'missing'
  const t0 = performance.now()
  let exports: WebAssembly.ModuleExportDescriptor[]
  try {
    exports = WebAssembly.Module.exports(new WebAssembly.Module(job.module))
  } catch (err) {
    return { refused: `invalid WebAssembly: ${String((err as Error).message).slice(0, 200)}` }
  }
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) return { refused: 'module must export a "_start" function (a WASI command)' }
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) return { refused: 'module must export its memory as "memory"' }
  const pkg = await wasmer.packages.load(job.module)
  packages.set(job.key, { pkg, bytes: job.module.byteLength })
  heldBytes += job.module.byteLength
  for (const [key, entry] of packages) {
    if (heldBytes <= cacheBytes || packages.size === 1) break
    packages.delete(key)
    heldBytes -= entry.bytes
  }
  return { pkg, compileTimeUs: Math.round((performance.now() - t0) * 1000) }
}

async function run (job: RunnerJob): Promise<void> {
  const loaded = await packageOf(job)
  if (loaded === 'missing') { send({ kind: 'missing', id: job.id }); return }
  if ('refused' in loaded) { send({ kind: 'refused', id: job.id, code: 'invalid_module', message: loaded.refused }); return }
  const sandbox = await wasmer.sandboxes.create({ packages: [loaded.pkg], network: { mode: 'disabled' } })
  const startedAt = Date.now()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let result: Pick<RunnerResult, 'status' | 'exitCode' | 'stdout' | 'stderr' | 'detail' | 'trap'>
  let clean = true
  const output = new CappedOutput(job.outputBytes)
  try {
    const proc = await sandbox.command(loaded.pkg, job.args, { env: job.env }).spawn({ stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' })
    // Not awaited: a guest that never reads its stdin must not hold the job here.
    void proc.stdin!.write(job.stdin).then(async () => await proc.stdin!.close()).catch(() => {})
    // The SDK's own output cap only truncates: the guest runs on. Here the guest is stopped
    // when the cap is passed (and its runner replaced: a killed guest may keep running), without
    // waiting for the other stream, which a runaway guest never ends.
    const over = Promise.withResolvers<void>()
    const stop = (): void => { over.resolve(); void proc.kill().catch(() => {}) }
    await Promise.race([Promise.all([output.drain(proc.stdout!, 0, stop), output.drain(proc.stderr!, 1, stop)]), over.promise])
    if (output.over) {
      clean = false
      result = { status: 'output_limit', exitCode: -1, ...output.bytes(), detail: `output passed the cap of ${job.outputBytes} bytes` }
    } else {
      const end = await proc.wait()
      result = { status: end.exitCode === 0 && end.reason === 'exited' ? 'ok' : 'exit', exitCode: end.exitCode, ...output.bytes(), detail: end.reason === 'exited' ? '' : end.reason }
    }
  } catch (err) {
    // Anything but a guest trap (EXECUTION_ERROR) may have left the SDK's workers broken.
    if ((err as { code?: string }).code !== 'EXECUTION_ERROR') clean = false
    const message = String((err as Error).message)
    // The SDK reports a trap as text: "command execution failed: RuntimeError: js: <V8's trap message>".
    const v8 = /js: ([^\n]*)/.exec(message)?.[1] ?? message
    // A wasm exception nobody caught arrives as the exception object's string.
    const trap = v8.includes('[object WebAssembly.Exception]') ? 'uncaught_exception' : trapReasonOfMessage(v8)
    // What the guest wrote before it trapped is kept, as on V8.
    result = { status: 'trap', exitCode: -1, ...output.bytes(), trap, detail: v8.slice(0, 200) }
  }
  const wallTimeUs = Math.round((performance.now() - t0) * 1000)
  const cpu = process.cpuUsage(cpu0)
  const finishedAt = Date.now()
  // An unclean runner is killed once its result is out: no point waiting for its sandbox.
  if (clean) clean = await closed(sandbox.close())
  send({ kind: 'result', id: job.id, ...result, ...(loaded.compileTimeUs !== undefined ? { compileTimeUs: loaded.compileTimeUs } : {}), wallTimeUs, cpuTimeUs: cpu.user + cpu.system, startedAt, finishedAt, clean })
}

/**
 * stdout and stderr under one cap (as on V8): what fits is kept, in the order it arrived; the
 * first chunk past the cap is cut at it and ends the job.
 */
class CappedOutput {
  private readonly parts: Uint8Array[][] = [[], []]
  private left: number
  over = false
  constructor (cap: number) { this.left = cap }

  async drain (stream: AsyncIterable<Uint8Array>, fd: 0 | 1, stop: () => void): Promise<void> {
    for await (const chunk of stream) {
      if (this.over) return
      const take = Math.min(chunk.byteLength, this.left)
      if (take > 0) this.parts[fd]!.push(chunk.slice(0, take))
      this.left -= take
      if (take < chunk.byteLength) { this.over = true; stop(); return }
    }
  }

  bytes (): { stdout: Uint8Array, stderr: Uint8Array } {
    return { stdout: join(this.parts[0]!), stderr: join(this.parts[1]!) }
  }
}

function join (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

async function closed (closing: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), CLOSE_MS) })
  try {
    return await Promise.race([closing.then(() => true, () => false), late])
  } finally {
    clearTimeout(timer)
  }
}

// Jobs arrive one at a time (the parent waits for each answer); a failure here is the runner's,
// reported as a crash by its exit.
process.on('message', (job: RunnerJob) => { run(job).catch((err: unknown) => { console.error(err); process.exit(70) }) })
process.on('disconnect', () => process.exit(0))
send({ kind: 'ready' })
