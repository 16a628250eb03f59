/**
 * One full garbage collection when a process goes quiet after work (issue 11: every process back
 * within 20% of its idle memory after load). V8 collects the old generation when allocation asks
 * for it, so what a burst of jobs left behind stays resident while the node idles; measured on a
 * node after 2,000 jobs and 1,000 distinct modules, the signer kept +47%, discovery +30%. A
 * collection of these heaps (tens of MiB) takes a few ms, and runs only after a busy period.
 *
 * Needs `--expose-gc` (ops/ecosystem.config.cjs gives it to the node's processes); without it
 * this does nothing.
 */
export interface IdleGcInit {
  /** How often CPU use is looked at. Default: 2 s. */
  everyMs?: number
  /** A window with more CPU than this share of it counts as busy. Default: 0.05. */
  busyShare?: number
  /** A window with less CPU than this share is quiet. Default: 0.02. */
  quietShare?: number
  /** CPU used by the process so far, µs (tests pass their own). Default: process.cpuUsage(). */
  cpuUsage?: () => number
}

const processCpuUs = (): number => { const u = process.cpuUsage(); return u.user + u.system }

/** Starts watching; returns a function that stops it. */
export function collectWhenIdle (init: IdleGcInit = {}): () => void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (typeof gc !== 'function') return () => {}
  const everyMs = init.everyMs ?? 2000
  const busy = (init.busyShare ?? 0.05) * everyMs * 1000
  const quiet = (init.quietShare ?? 0.02) * everyMs * 1000
  const cpuUs = init.cpuUsage ?? processCpuUs
  let last = cpuUs()
  let worked = false
  const timer = setInterval(() => {
    const now = cpuUs()
    const us = now - last
    last = now
    if (us > busy) worked = true
    else if (us < quiet && worked) {
      worked = false
      gc()
    }
  }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
