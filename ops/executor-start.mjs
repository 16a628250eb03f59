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
  const deadline = Date.now() + WAIT_MS
  while (existsSync(filling) && Date.now() < deadline) await sleep(POLL_MS)
  enableCompileCache(dir)
}
await import('../services/executor/src/main.ts')
