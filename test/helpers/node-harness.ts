/**
 * Starts a real node for tests: the signer, N executors and discovery as separate Node 24
 * processes on unix sockets in a temporary folder, HTTP on a free loopback port. `stop()`
 * ends every process it started and removes the folder.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { EXECUTOR_NODE_ARGS, V8_FLAGS } from '../../ops/compile-cache.ts'
import { MALLOC_ENV } from '../../ops/malloc.ts'

export const ROOT = new URL('../../', import.meta.url).pathname
export const NODE = process.execPath

export interface NodeProcess {
  name: string
  child: ChildProcess
  lines: string[]
}

export interface TestNode {
  dir: string
  env: Record<string, string>
  grpc: string
  http: string
  /** libp2p listen addresses (with /p2p/<id>) when the config enables p2p. */
  p2p: string[]
  procs: Map<string, NodeProcess>
  /** Starts (or restarts) one process by name: 'signer', 'executor-<i>', 'discovery'. */
  startProcess: (name: string) => Promise<NodeProcess>
  /** All log lines of one process (for failure messages). */
  log: (name: string) => string
  /** Sends a signal and waits for the exit. */
  stopProcess: (name: string, signal?: NodeJS.Signals) => Promise<void>
  stop: () => Promise<void>
}

export interface TestNodeInit {
  executors?: number
  config?: Record<string, unknown>
  /** A command that runs Node, e.g. `['ip', 'netns', 'exec', ns]` to start inside a namespace. */
  wrap?: readonly string[]
  /** Extra environment for every process. */
  env?: Record<string, string>
}

const SCRIPTS: Record<string, string> = {
  signer: 'services/signer/src/main.ts',
  executor: 'services/executor/src/main.ts',
  discovery: 'services/discovery/src/main.ts'
}

/**
 * How long a process may take to say it is ready. Generous: CI shares 2 cores between two test
 * workers that each start whole nodes (a start takes 1-3 s quiet, up to ~20 s under that load).
 */
const READY_DEADLINE_MS = 60_000

/** Log line (JSON `msg`) each process prints when it is ready. */
const READY: Record<string, string> = { signer: 'signer ready', executor: 'grpc server listening', discovery: 'discovery ready' }

export async function startTestNode (init: TestNodeInit = {}): Promise<TestNode> {
  const dir = await mkdtemp(join(tmpdir(), 'phase-node-'))
  const executors = init.executors ?? 2
  const configPath = join(dir, 'plasmd.json')
  await writeFile(configPath, JSON.stringify({
    state_dir: join(dir, 'state'),
    runtime_dir: join(dir, 'run'),
    executors,
    log_level: 'info',
    api: { http: { host: '127.0.0.1', port: 0 } },
    // Tests stay on loopback: no network unless a test configures it (with loopback addresses).
    p2p: { enabled: false },
    ...init.config
    // 0600: a config file holding /api/token must not be readable by other users.
  }), { mode: 0o600 })
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: dir, PHASE_CONFIG: configPath, ...MALLOC_ENV, ...init.env }
  const wrap = init.wrap ?? []
  const logs = new Map<string, string[]>()
  const procs = new Map<string, NodeProcess>()
  let grpc = ''
  let http = ''
  let p2p: string[] = []

  const startProcess = async (name: string): Promise<NodeProcess> => {
    const kind = name.startsWith('executor-') ? 'executor' : name
    // The flags pm2 gives each process (ops/ecosystem.config.cjs): tests and benches run the node as operators do.
    const args = [...(kind === 'executor' ? EXECUTOR_NODE_ARGS : V8_FLAGS), join(ROOT, SCRIPTS[kind]!)]
    const extra = kind === 'executor' ? { PHASE_EXECUTOR_INDEX: name.slice('executor-'.length) } : {}
    // A wrapper such as `ip netns exec` execs node itself, so the child's pid is node's own.
    const child = wrap.length > 0
      ? spawn(wrap[0]!, [...wrap.slice(1), NODE, ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(NODE, args, { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })
    const proc: NodeProcess = { name, child, lines: [] }
    procs.set(name, proc)
    logs.set(name, proc.lines)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not get ready:\n${proc.lines.join('\n')}`)), READY_DEADLINE_MS)
      const onLine = (line: string): void => {
        proc.lines.push(line)
        let doc: Record<string, unknown>
        try { doc = JSON.parse(line) } catch { return }
        if (doc.msg === READY[kind]) {
          if (kind === 'discovery') { grpc = String(doc.grpc); http = String(doc.http); p2p = (doc.p2p as string[] | undefined) ?? [] }
          clearTimeout(timer)
          resolve()
        }
      }
      createInterface({ input: child.stdout! }).on('line', onLine)
      createInterface({ input: child.stderr! }).on('line', (l) => proc.lines.push(l))
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}:\n${proc.lines.join('\n')}`)) })
    })
    return proc
  }

  const stopProcess = async (name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const proc = procs.get(name)
    if (proc === undefined) return
    procs.delete(name)
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()))
    proc.child.kill(signal)
    const force = setTimeout(() => proc.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(force)
  }

  const stop = async (): Promise<void> => {
    // Discovery first (it dials the others), then executors and the signer.
    await stopProcess('discovery')
    await Promise.all([...procs.keys()].map(async (n) => await stopProcess(n)))
    await rm(dir, { recursive: true, force: true })
  }

  try {
    await startProcess('signer')
    await Promise.all(Array.from({ length: executors }, async (_, i) => await startProcess(`executor-${i}`)))
    await startProcess('discovery')
  } catch (err) {
    await stop()
    throw err
  }
  const log = (name: string): string => logs.get(name)?.join('\n') ?? ''
  return { dir, env, get grpc () { return grpc }, get http () { return http }, get p2p () { return p2p }, procs, log, startProcess, stopProcess, stop }
}
