import { loadMallocAddon, releaseFreedMemory } from './malloc.ts'

/**
 * One full garbage collection when a process goes quiet after work, and one window later the
 * memory glibc holds free given back to the kernel (issue 11: every process back within 20% of
 * its idle memory after load). V8 collects the old generation when allocation asks for it, so
 * what a burst of jobs left behind stays resident while the node idles; measured on a node after
 * 2,000 jobs and 1,000 distinct modules, the signer kept +47%, discovery +30%. A collection of
 * these heaps (tens of MiB) takes a few ms, and runs only after a busy period.
 *
 * What V8 and Node free outside the JS heap (compiler zones, ArrayBuffer backing stores, compiled
 * wasm, HTTP/2 buffers) goes back to glibc, which keeps it: the trim (malloc.ts, malloc_trim)
 * comes a window after the collection, because V8 frees much of it on its own threads after the
 * collection ends. It walks glibc's heaps once (~1 ms per 10 MiB held) and runs only then.
 *
 * The collection needs `--expose-gc` (ops/ecosystem.config.cjs gives it to the node's
 * processes), the trim the malloc addon; without either, that part does nothing.
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
  /** Gives freed memory back (tests pass their own); null: never. Default: malloc_trim when the addon loads. */
  trim?: (() => unknown) | null
}

/** Options of V8's exposed gc() (Node ≥ 22). */
interface GcOptions { type: 'major' | 'minor', execution: 'sync' | 'async', flavor?: 'regular' | 'last-resort' }
/**
 * The collection V8 runs before it gives up on memory: full collections until nothing more is
 * freed, compacting the old generation and shrinking its spaces. A plain full collection frees
 * the objects but keeps their pages (measured: a 50 MiB heap with 25 MiB live stayed at 49.7
 * MiB, RSS -9 MiB; this one took it to 27.2 MiB, RSS -43 MiB). It costs about three plain ones
 * (~3 ms per MiB live here), paid once when a process goes quiet.
 */
const MEMORY_REDUCING_GC: GcOptions = { type: 'major', execution: 'sync', flavor: 'last-resort' }

const processCpuUs = (): number => { const u = process.cpuUsage(); return u.user + u.system }

/** Starts watching; returns a function that stops it. */
export function collectWhenIdle (init: IdleGcInit = {}): () => void {
  const exposed = (globalThis as { gc?: (options?: GcOptions) => void }).gc
  const gc = typeof exposed === 'function' ? exposed : undefined
  const trim = init.trim === undefined ? (loadMallocAddon() ? releaseFreedMemory : undefined) : (init.trim ?? undefined)
  if (gc === undefined && trim === undefined) return () => {}
  const everyMs = init.everyMs ?? 2000
  const busy = (init.busyShare ?? 0.05) * everyMs * 1000
  const quiet = (init.quietShare ?? 0.02) * everyMs * 1000
  const cpuUs = init.cpuUsage ?? processCpuUs
  let last = cpuUs()
  let worked = false
  let trimDue = false
  const timer = setInterval(() => {
    const now = cpuUs()
    const us = now - last
    last = now
    if (us > busy) worked = true
    else if (us < quiet) {
      if (worked) {
        worked = false
        gc?.(MEMORY_REDUCING_GC)
        trimDue = trim !== undefined
      } else if (trimDue) {
        trimDue = false
        trim!()
      }
    }
  }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
