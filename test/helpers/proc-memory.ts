/**
 * Memory of a process as the kernel sees it: RSS (resident, counts shared pages in full) and PSS
 * (shared pages split between the processes that map them; the fair share, FACTS) from
 * /proc/PID/smaps_rollup, in MiB. `sampler` keeps the peak while a test runs.
 */
import { readFileSync } from 'node:fs'

export interface Memory {
  rss: number
  pss: number
  /** PSS of anonymous pages (heaps, stacks, JIT code): what the process itself holds. */
  pssAnon: number
  /** PSS of file pages (the Node binary's and libraries' code and data as far as touched). */
  pssFile: number
}

/** RSS and PSS (in all, anonymous, file) of `pid` in MiB; undefined when the process is gone. */
export function memoryOf (pid: number): Memory | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
    return { rss: kib('Rss') / 1024, pss: kib('Pss') / 1024, pssAnon: kib('Pss_Anon') / 1024, pssFile: kib('Pss_File') / 1024 }
  } catch {
    return undefined
  }
}

export interface Sampler {
  /** Largest RSS and PSS seen per pid since start. */
  peak: Map<number, Memory>
  stop: () => void
}

/** Samples the processes every `everyMs` and keeps each one's peak. */
export function sampler (pids: () => number[], everyMs = 100): Sampler {
  const peak = new Map<number, Memory>()
  const sample = (): void => {
    for (const pid of pids()) {
      const m = memoryOf(pid)
      if (m === undefined) continue
      const p = peak.get(pid)
      peak.set(pid, { rss: Math.max(p?.rss ?? 0, m.rss), pss: Math.max(p?.pss ?? 0, m.pss), pssAnon: Math.max(p?.pssAnon ?? 0, m.pssAnon), pssFile: Math.max(p?.pssFile ?? 0, m.pssFile) })
    }
  }
  sample()
  const timer = setInterval(sample, everyMs)
  timer.unref()
  return { peak, stop: () => { clearInterval(timer); sample() } }
}

/** Waits (up to `timeoutMs`) until `pid`'s RSS is at most `limit` MiB; returns the last reading. */
export async function settle (pid: number, limit: number, timeoutMs = 20_000): Promise<Memory | undefined> {
  const deadline = Date.now() + timeoutMs
  let m = memoryOf(pid)
  while (m !== undefined && m.rss > limit && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    m = memoryOf(pid)
  }
  return m
}

export const mib = (n: number): string => n.toFixed(1)
