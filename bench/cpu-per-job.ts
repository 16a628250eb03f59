/**
 * Where a warm local job's CPU goes, process by process: the node's (discovery, each executor,
 * the signer) beside the bare shape's (front, exec, sign; shape-chain.ts) and the guarded
 * shape's (gfront, exec, gsign: the bare one doing discovery's and the signer's guarantee work
 * in plain code), and the client's own, for jobs sent one at a time on each one's stream. CPU
 * (user + system, every thread: the executors' worker threads, V8's GC helpers) is what a busy
 * machine moves least, and on a job sent one at a time it is what the latency is made of: the
 * gap between the node's column and the bare shape's is the node's work, per process, not the
 * shape's; beside the guarded shape's, process by process, it is the node's own beyond those
 * guarantees' arithmetic. The node's and the guarded shape's client figures include building
 * each job's manifest (a fresh nonce, JSON), as a real client does; the bare shape's client
 * sends the same bytes every time.
 */
import { readFileSync } from 'node:fs'
import { timeSeq } from './stats.ts'

/**
 * CPU ms of a process so far (utime + stime of every thread, exited ones too), from /proc; with
 * `children`, also its reaped children's (cutime + cstime). Throws when the process is gone.
 */
export function processCpuMs (pid: number, children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // After the command name (which may hold spaces and parentheses): field 3 on; utime, stime,
  // cutime and cstime are fields 14 to 17, in clock ticks (USER_HZ: 100 on Linux).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) * 10
}

export interface CpuPerJob {
  /** µs of CPU per job by process name, in the order given. */
  processes: Array<[string, number]>
  /** µs of this (the client's) process per job. */
  client: number
  /** Jobs sent to this side. */
  jobs: number
}

/** A side's processes by name and pid, and one job sent to it. */
export interface JobSide { pids: ReadonlyArray<[string, number]>, call: () => Promise<unknown> }

/**
 * CPU per job of several sides (the node, the bare shape, …), their jobs sent in turns —
 * `rounds` blocks of `n / rounds` jobs each, A B C A B C… — so a machine whose speed drifts
 * moves all alike. Each side's processes are read before its first block and after the last
 * (what they do after a block — an idle-time collection, a log write — counts for them; /proc's
 * 10 ms tick over `n` jobs: ±10 ms / n, ±5 µs a job at n = 2,000); the client, shared by all,
 * is read around each block (process.cpuUsage, µs).
 */
export async function cpuPerJobInTurns<Sides extends readonly JobSide[]> (sides: readonly [...Sides], n: number, rounds = 4): Promise<{ [K in keyof Sides]: CpuPerJob }> {
  const per = Math.ceil(n / rounds)
  const before = sides.map((s) => s.pids.map(([, pid]) => processCpuMs(pid)))
  const client = sides.map(() => 0)
  for (let r = 0; r < rounds; r++) {
    for (const [i, side] of sides.entries()) {
      const self = process.cpuUsage()
      await timeSeq(per, 0, side.call)
      const used = process.cpuUsage(self)
      client[i]! += used.user + used.system
    }
  }
  const jobs = per * rounds
  return sides.map((side, i): CpuPerJob => ({
    processes: side.pids.map(([name, pid], k) => [name, (processCpuMs(pid) - before[i]![k]!) * 1000 / jobs]),
    client: client[i]! / jobs,
    jobs
  })) as { [K in keyof Sides]: CpuPerJob }
}

/** "discovery 867 · executor-0 847 · … · client 243 = 2513 µs". */
export function formatCpu (c: CpuPerJob): string {
  const parts = [...c.processes.filter(([, us]) => us >= 1), ['client', c.client] as [string, number]]
  return `${parts.map(([name, us]) => `${name} ${us.toFixed(0)}`).join(' · ')} = ${total(c).toFixed(0)} µs`
}

export function total (c: CpuPerJob): number {
  return c.processes.reduce((t, [, us]) => t + us, c.client)
}
