/**
 * A whole node as operators run it: bin/plasmd (config check, then pm2-runtime with the
 * ecosystem: signer, N executors, discovery), in a temporary state and runtime folder, loopback
 * only. Its stdout (what journald would keep) is collected line by line.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from './node-harness.ts'

export const PLASMD = join(ROOT, 'bin/plasmd')
export const PHASE = join(ROOT, 'bin/phase')

export interface Pm2Node {
  dir: string
  env: Record<string, string>
  child: ChildProcess
  /** Every stdout line so far. */
  lines: string[]
  /** Public gRPC address (unix:...). */
  grpc: string
  /** HTTP address host:port. */
  http: string
  /** Pids seen in log lines (of pm2 and the node's processes; not of the short-lived start script). */
  pids: Set<number>
  /** Pid of each process by name ('signer', 'discovery', 'executor <i>'), from its log lines. */
  byName: Map<string, number>
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>
}

/** A temp folder with plasmd.json = `config`; env points the node and the CLI at it. */
export async function nodeFolder (config: unknown): Promise<{ dir: string, env: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'phase-pm2-'))
  // Started as root, the executors run as phase-exec, which must pass through to its socket
  // folder (as it passes through /run to /run/phase/executors); the state folder stays 0700.
  await chmod(dir, 0o711)
  await writeFile(join(dir, 'plasmd.json'), JSON.stringify(config))
  return {
    dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      PHASE_CONFIG: join(dir, 'plasmd.json'),
      PHASE_STATE_DIR: join(dir, 'state'),
      PHASE_RUNTIME_DIR: join(dir, 'run')
    }
  }
}

/** Starts bin/plasmd and waits for discovery plus `executors` executors to be listening. */
export async function startPm2Node (config: Record<string, unknown>, executors: number, options: { as?: { uid: number, gid: number }, folder?: { dir: string, env: Record<string, string> }, env?: Record<string, string> } = {}): Promise<Pm2Node> {
  // `folder`: one made (and prepared) by the caller with nodeFolder; `config` is then unused.
  const { dir, env } = options.folder ?? await nodeFolder({ api: { http: { port: 0 } }, p2p: { enabled: false }, ...config })
  if (options.as !== undefined) await chown(dir, options.as.uid, options.as.gid)
  const child = spawn(PLASMD, [], { env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], ...options.as })
  const lines: string[] = []
  const pids = new Set<number>()
  const byName = new Map<string, number>()
  let grpc = ''
  let http = ''
  const ready = new Set<string>()
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not come up:\n${lines.slice(-20).join('\n')}`)), 30_000)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line)
        let doc: Record<string, unknown>
        try { doc = JSON.parse(line) } catch { return }
        if (typeof doc.pid === 'number' && doc.name !== 'plasmd') {
          pids.add(doc.pid)
          byName.set(doc.name === 'executor' ? `executor ${String(doc.executor ?? '')}` : String(doc.name), doc.pid)
        }
        if (doc.msg === 'discovery ready') { grpc = String(doc.grpc); http = String(doc.http) }
        if (doc.msg === 'signer ready' || doc.msg === 'discovery ready' || (doc.name === 'executor' && doc.msg === 'grpc server listening')) {
          ready.add(`${String(doc.name)}:${String(doc.executor ?? '')}`)
        }
        if (ready.size === executors + 2) { clearTimeout(timer); resolve() }
      })
      child.stderr!.on('data', (d: Buffer) => { lines.push(`stderr: ${d.toString()}`) })
      void exited.then((code) => { clearTimeout(timer); reject(new Error(`plasmd exited with ${code}:\n${lines.slice(-20).join('\n')}`)) })
    })
  } catch (err) {
    child.kill('SIGTERM')
    await exited
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  let stopped: Promise<number | null> | undefined
  const stop = async (): Promise<number | null> => {
    stopped ??= (async () => {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const code = await exited
      clearTimeout(timer)
      await rm(dir, { recursive: true, force: true })
      return code
    })()
    return await stopped
  }
  return { dir, env, child, lines, grpc, http, pids, byName, stop }
}

export function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/** Runs the phase CLI with the node's env; resolves with exit code and output. */
/** `plasmd config ...` / `plasmd scale ...`: the node's own commands. */
export async function plasmdCli (args: string[], env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await phaseCli(args, env, PLASMD)
}

export async function phaseCli (args: string[], env: Record<string, string>, program: string = PHASE): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  return { code, stdout, stderr }
}
