/**
 * What the wasmer runtime reads of its runner processes from /proc (Linux), and how it ends them.
 */
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'

const PAGE_SIZE = 4096
/** USER_HZ of /proc/<pid>/stat on Linux. */
export const CLOCK_TICKS = 100

/** SIGKILL, then wait for the exit (a killed runner cannot hang). */
export async function kill (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

/** Resident bytes of a process (0 when it is gone). */
export function rss (pid: number | undefined): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE_SIZE
  } catch {
    return 0
  }
}

/** utime + stime of a process in clock ticks (0 when it is gone). */
export function cpuTicks (pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th field.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}
