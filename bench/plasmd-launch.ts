/**
 * bin/plasmd launched as `npm start` does (config check, pm2-runtime, the ecosystem), in its own
 * process group and session so that the bench can end every process it started — pm2, signer,
 * executors, discovery — by group, and check that none is left (the bench's figures are worth
 * nothing if a leftover node keeps a core busy).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { PLASMD, alive } from '../test/helpers/pm2-node.ts'

export interface Plasmd {
  child: ChildProcess
  lines: string[]
  /** Pid of each process by name ('signer', 'discovery', 'executor <i>'), from its log lines. */
  byName: Map<string, number>
  /** Resolves with discovery's gRPC address once it logged 'discovery ready'. */
  discovery: Promise<{ grpc: string, http: string }>
  /**
   * Resolves with discovery's gRPC address once its public API serves local jobs: 'discovery
   * serving local jobs (p2p starting)' with p2p on (libp2p still starting), else 'discovery ready'.
   */
  serving: Promise<{ grpc: string, http: string }>
  /** Resolves once `n` executors logged 'grpc server listening' (counted since start). */
  executors: (n: number) => Promise<void>
  /** SIGTERM to the group, SIGKILL after 20 s; then checks that no process it started is left. */
  stop: () => Promise<void>
}

/** Pids of the processes still in session `sid` (ps), excluding zombies. */
export function sessionPids (sid: number): number[] {
  const ps = spawnSync('ps', ['-e', '-o', 'pid=,sid=,stat='], { encoding: 'utf8' })
  return ps.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => Number(f[1]) === sid && !String(f[2]).startsWith('Z')).map((f) => Number(f[0]))
}

export function launchPlasmd (env: Record<string, string>): Plasmd {
  // detached: a new session and process group whose id is the child's pid.
  const child = spawn(PLASMD, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const lines: string[] = []
  const byName = new Map<string, number>()
  const waiters: Array<{ n: number, resolve: () => void }> = []
  let listening = 0
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let onDiscovery: (a: { grpc: string, http: string }) => void = () => {}
  const discovery = new Promise<{ grpc: string, http: string }>((resolve, reject) => {
    onDiscovery = resolve
    void exited.then((code) => reject(new Error(`plasmd exited with ${code}:\n${lines.slice(-20).join('\n')}`)))
  })
  discovery.catch(() => {})
  let onServing: (a: { grpc: string, http: string }) => void = () => {}
  const serving = new Promise<{ grpc: string, http: string }>((resolve, reject) => {
    onServing = resolve
    void exited.then((code) => reject(new Error(`plasmd exited with ${code}:\n${lines.slice(-20).join('\n')}`)))
  })
  serving.catch(() => {})
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    let doc: Record<string, unknown>
    try { doc = JSON.parse(line) } catch { return }
    if (typeof doc.pid === 'number' && doc.name !== 'plasmd') {
      byName.set(doc.name === 'executor' ? `executor ${String(doc.executor ?? '')}` : String(doc.name), doc.pid)
    }
    if (doc.msg === 'discovery ready') onDiscovery({ grpc: String(doc.grpc), http: String(doc.http) })
    if (doc.msg === 'discovery ready' || doc.msg === 'discovery serving local jobs (p2p starting)') onServing({ grpc: String(doc.grpc), http: String(doc.http) })
    if (doc.name === 'executor' && doc.msg === 'grpc server listening') {
      listening++
      for (const w of waiters.filter((x) => x.n <= listening)) { waiters.splice(waiters.indexOf(w), 1); w.resolve() }
    }
  })
  child.stderr!.on('data', (d: Buffer) => { lines.push(`stderr: ${d.toString()}`) })
  const executors = async (n: number): Promise<void> => {
    if (listening >= n) return
    await new Promise<void>((resolve, reject) => {
      waiters.push({ n, resolve })
      const timer = setTimeout(() => reject(new Error(`${n} executors not listening after 60 s`)), 60_000)
      timer.unref()
    })
  }
  let stopped: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopped ??= (async () => {
      const sid = child.pid!
      try { process.kill(-sid, 'SIGTERM') } catch {}
      const force = setTimeout(() => { try { process.kill(-sid, 'SIGKILL') } catch {} }, 20_000)
      await exited
      clearTimeout(force)
      // pm2 stops its children before it exits; anything left of the session is killed and named.
      // pm2 starts its apps in sessions of their own (detached), so their logged pids count too.
      const remaining = (): number[] => [...new Set([...sessionPids(sid), ...[...byName.values()].filter(alive)])]
      const deadline = Date.now() + 15_000
      while (remaining().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      const left = remaining()
      if (left.length > 0) {
        for (const pid of left) { try { process.kill(pid, 'SIGKILL') } catch {} }
        throw new Error(`processes left after plasmd stopped (killed): ${left.join(' ')}`)
      }
    })()
    await stopped
  }
  return { child, lines, byName, discovery, serving, executors, stop }
}
