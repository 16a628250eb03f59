/**
 * What pm2 runs for each executor (ops/ecosystem.config.cjs): waits while root fills the
 * executors' compile cache (ops/compile-cache.ts, `fillInBackground`: the first start after
 * an install or an upgrade), then turns the cache on and loads the executor. Plain JavaScript:
 * it runs before any cache exists, so it must not need Node's TypeScript transpiler itself.
 *
 * Node turns NODE_COMPILE_CACHE on at start-up; while the executor user's read-only copy does
 * not exist yet that fails (the executors may not write a cache), so it is turned on again here,
 * once the copy is in place. The pool's workers, started later, find it through the same variable.
 */
import { existsSync } from 'node:fs'
import { enableCompileCache } from 'node:module'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** ops/compile-cache.ts FILLING_FILE: root's, in a folder the executors can only read. */
const FILLING_FILE = '.filling'
/** The fill's own bound (ops/compile-cache.ts FILL_TIMEOUT_MS): past it, start uncached. */
const WAIT_MS = 30_000
/** How often to look: the fill takes ~1–2 s, and each look is one stat. */
const POLL_MS = 20

const dir = process.env.NODE_COMPILE_CACHE
if (dir !== undefined && dir !== '') {
  const filling = join(dir, FILLING_FILE)
  const deadline = performance.now() + WAIT_MS
  while (existsSync(filling) && performance.now() < deadline) await sleep(POLL_MS)
  enableCompileCache(dir)
}

/**
 * Executors after the first start one after another (issue 11, start-up): a node's processes
 * load at once and start-up is CPU-bound (bench/startup-timeline.ts: ~3.3 s of CPU to the first
 * job on 2 cores, discovery the last ready), and the first job needs one executor, not all. So
 * executor N loads once executor N-1 answers on its socket (the previous one's load has left the
 * CPU to discovery and the signer), or after STAGGER_WAIT_MS whatever happened to it (crashed,
 * or still compiling): never held back longer. A restarted executor finds the one before it
 * answering and loads at once. PHASE_EXECUTOR_STAGGER_MS sets the bound (tests; 0: no wait).
 */
const STAGGER_WAIT_MS = /^[0-9]{1,6}$/.test(process.env.PHASE_EXECUTOR_STAGGER_MS ?? '') ? Number(process.env.PHASE_EXECUTOR_STAGGER_MS) : 3000
const raw = process.env.PHASE_EXECUTOR_INDEX ?? process.env.NODE_APP_INSTANCE ?? '0'
const index = /^[0-9]{1,3}$/.test(raw) ? Number(raw) : 0
// ops/ecosystem.config.cjs gives every app the runtime folder; without it (an executor started
// by hand) there is no wait.
const runtimeDir = process.env.PHASE_RUNTIME_DIR
if (index > 0 && runtimeDir !== undefined && runtimeDir !== '') {
  // services/core/process/src/config.ts executorAddress (this file cannot load TypeScript).
  const previous = join(runtimeDir, 'executors', `executor-${index - 1}.sock`)
  const deadline = performance.now() + STAGGER_WAIT_MS
  while (performance.now() < deadline && !(await answers(previous))) await sleep(POLL_MS)
}

/** True when something accepts a connection on the unix socket `path` (a stale file does not). */
async function answers (path) {
  return await new Promise((resolve) => {
    const socket = connect({ path })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

await import('../services/executor/src/main.ts')
