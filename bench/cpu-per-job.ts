/**
 * Where a warm local job's CPU goes, process by process: the node's (discovery, each executor,
 * the signer) beside the bare shape's (front, exec, sign; shape-chain.ts), and the client's own,
 * for jobs sent one at a time on each one's stream. CPU (user + system, every thread: the
 * executors' worker threads, V8's GC helpers) is what a busy machine moves least, and on a job
 * sent one at a time it is what the latency is made of: the gap between the two columns is the
 * node's own work, per process, not the shape's.
 */
import { readFileSync } from 'node:fs'
import { timeSeq } from './stats.ts'

/** CPU ms of a process so far (utime + stime of every thread), from /proc. */
export function processCpuMs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 (1-based), in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export interface CpuPerJob {
  /** µs of CPU per job by process name, in the order given. */
  processes: Array<[string, number]>
  /** µs of this (the client's) process per job. */
  client: number
}

/** µs of CPU per job in each of `pids` and in this process over `n` jobs sent one at a time. */
async function measure (pids: ReadonlyArray<[string, number]>, n: number, call: () => Promise<unknown>): Promise<CpuPerJob> {
  const before = pids.map(([, pid]) => processCpuMs(pid))
  const self = process.cpuUsage()
  await timeSeq(n, 0, call)
  const used = process.cpuUsage(self)
  return {
    processes: pids.map(([name, pid], i) => [name, (processCpuMs(pid) - before[i]!) * 1000 / n]),
    client: (used.user + used.system) / n
  }
}

/** A side's processes by name and pid, and one job sent to it. */
export interface JobSide { pids: ReadonlyArray<[string, number]>, call: () => Promise<unknown> }

function sum (parts: CpuPerJob[]): CpuPerJob {
  const processes = parts[0]!.processes.map(([name], i) => [name, parts.reduce((t, p) => t + p.processes[i]![1], 0) / parts.length] as [string, number])
  return { processes, client: parts.reduce((t, p) => t + p.client, 0) / parts.length }
}

/**
 * CPU per job of two sides (the node, the bare shape), measured in turns — `rounds` blocks of
 * `n / rounds` jobs each, A B A B… — so a machine whose speed drifts moves both alike. /proc's
 * tick is 10 ms: n ≥ 2,000 keeps each figure within ~5 µs.
 */
export async function cpuPerJobInTurns (a: JobSide, b: JobSide, n: number, rounds = 4): Promise<[CpuPerJob, CpuPerJob]> {
  const per = Math.ceil(n / rounds)
  const as: CpuPerJob[] = []
  const bs: CpuPerJob[] = []
  for (let r = 0; r < rounds; r++) {
    as.push(await measure(a.pids, per, a.call))
    bs.push(await measure(b.pids, per, b.call))
  }
  return [sum(as), sum(bs)]
}

/** "discovery 867 · executor-0 847 · … · client 243 = 2513 µs". */
export function formatCpu (c: CpuPerJob): string {
  const parts = [...c.processes.filter(([, us]) => us >= 1), ['client', c.client] as [string, number]]
  return `${parts.map(([name, us]) => `${name} ${us.toFixed(0)}`).join(' · ')} = ${total(c).toFixed(0)} µs`
}

export function total (c: CpuPerJob): number {
  return c.processes.reduce((t, [, us]) => t + us, c.client)
}
