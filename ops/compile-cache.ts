/**
 * Node's compile cache (NODE_COMPILE_CACHE) for the node's processes. Every process runs
 * TypeScript through Node's type stripping, which loads a WebAssembly transpiler on first use:
 * measured ~250 ms and ~16 MiB PSS per process. The cache keeps the stripped code (and V8's code
 * cache) on disk, so a process that finds it never loads the transpiler (issue 11: memory and
 * start-up).
 *
 * A cache is code its reader runs, so each user gets its own, writable by it alone (made by
 * ops/prepare.ts when started as root): `supervisor/` for root (bin/plasmd's step, pm2), `node/`
 * for the signer and discovery. The executors get none: they run untrusted code, and a cache they
 * could write would let a compromised executor plant code that every later executor runs, across
 * restarts (they may write their socket folder and nothing else). A cache for them would have to
 * be written by a more trusted user and only read by them (left for later). The folder:
 * PHASE_CACHE_DIR (plasmd.service: /var/cache/phase, kept across starts), else
 * `<runtime_dir>/cache`. bin/plasmd's own step and pm2 use PHASE_CACHE_DIR/supervisor, else the
 * user's own cache folder (~/.cache/phase): they start before the configuration names runtime_dir.
 */
import { join } from 'node:path'

export interface CompileCaches {
  readonly dir: string
  /** The folder came from PHASE_CACHE_DIR (then bin/plasmd's step and pm2 use `supervisor`). */
  readonly given: boolean
  readonly supervisor: string
  readonly node: string
}

export function compileCaches (env: NodeJS.ProcessEnv, runtimeDir: string): CompileCaches {
  const given = env.PHASE_CACHE_DIR
  const ok = given !== undefined && given.startsWith('/')
  const dir = ok ? given : join(runtimeDir, 'cache')
  return { dir, given: ok, supervisor: join(dir, 'supervisor'), node: join(dir, 'node') }
}
