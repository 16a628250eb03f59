/**
 * Node's compile cache (NODE_COMPILE_CACHE) for the node's processes. Every process runs
 * TypeScript through Node's type stripping, which loads a WebAssembly transpiler on first use:
 * measured ~250 ms and ~16 MiB PSS per process. The cache keeps the stripped code (and V8's code
 * cache) on disk, so a process that finds it never loads the transpiler (issue 11: memory and
 * start-up).
 *
 * A cache is code its reader runs, so each user gets its own, writable by it alone (made by
 * ops/prepare.ts when started as root): `supervisor/` for root (bin/plasmd's step, pm2), `node/`
 * for the signer and discovery. The executors run untrusted code: a cache they could write would
 * let a compromised executor plant code that every later executor runs, across restarts. So
 * started as root, `executor/` is filled by root (`fillExecutorCache`: an executor started only
 * to load its code, with the executors' flags, since the cache is keyed by them) and the
 * executor user may only read it; started as another user (development: no privilege split,
 * the executors are that user anyway), they fill it themselves.
 * PHASE_CACHE_DIR (plasmd.service: /var/cache/phase, kept across starts), else
 * `<runtime_dir>/cache`. bin/plasmd's own step and pm2 use PHASE_CACHE_DIR/supervisor, else the
 * user's own cache folder (~/.cache/phase): they start before the configuration names runtime_dir.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'

/**
 * V8 flags of every process (ops/ecosystem.config.cjs). Measured (issue 11, bench/memory.ts):
 * V8 lets the young generation of each process grow to 8 MiB semi-spaces under start-up's
 * allocations and keeps it: capped at 1 MiB, an idle node takes ~45 MiB less (executor 57 →
 * 41 MiB alone); CPU per job, all processes, stayed within the noise of a loaded machine.
 * --expose-gc: one full collection when the process goes quiet after work
 * (services/core/process/src/idle-gc.ts). Not --optimize-for-size: it bounds growth too but
 * costs ~35% more CPU per job. Here because Node's compile cache is keyed by them.
 */
export const V8_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc']
/**
 * The executors' flags: also the optimizing compiler for all wasm (no on-stack replacement, so a
 * hot loop in main would otherwise stay on the baseline tier; FACTS, "WebAssembly").
 */
export const EXECUTOR_NODE_ARGS: readonly string[] = ['--no-liftoff', ...V8_FLAGS]
/** How long filling the executors' cache may take (one Node start loading the executor's code). */
export const FILL_TIMEOUT_MS = 30_000

export interface CompileCaches {
  readonly dir: string
  /** The folder came from PHASE_CACHE_DIR (then bin/plasmd's step and pm2 use `supervisor`). */
  readonly given: boolean
  readonly supervisor: string
  readonly node: string
  readonly executor: string
}

export function compileCaches (env: NodeJS.ProcessEnv, runtimeDir: string): CompileCaches {
  const given = env.PHASE_CACHE_DIR
  const ok = given !== undefined && given.startsWith('/')
  const dir = ok ? given : join(runtimeDir, 'cache')
  return { dir, given: ok, supervisor: join(dir, 'supervisor'), node: join(dir, 'node'), executor: join(dir, 'executor') }
}

/**
 * Fills `dir` (root's, 0755) with everything an executor loads, as root, and hands a read-only
 * copy to the executor user: Node keeps one sub-folder per Node version, flags and uid
 * (`v24.21.0-x64-<hash>-<uid>`), so root's is copied to the executor uid's name, root-owned,
 * files 0644. Cheap when nothing changed: root's own run then finds every entry.
 */
export function fillExecutorCache (init: { dir: string, nodeBin: string, main: string, executorUid: number, root: string }): 'filled' | 'current' {
  mkdirSync(init.dir, { recursive: true, mode: 0o755 })
  chmodSync(init.dir, 0o755)
  // Every start runs this: the fill (a Node start, ~0.5 s) only when the code or Node changed.
  const stamp = codeStamp(init)
  const stampFile = join(init.dir, STAMP_FILE)
  if (executorCacheReady(init.dir, init.executorUid) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return 'current'
  const r = spawnSync(init.nodeBin, [...EXECUTOR_NODE_ARGS, init.main], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_COMPILE_CACHE: init.dir, PHASE_EXECUTOR_FILL_CACHE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: FILL_TIMEOUT_MS,
    encoding: 'utf8'
  })
  if (r.status !== 0) throw new Error(`filling the executors' compile cache failed (${r.error?.message ?? `exit ${String(r.status)}`}): ${(r.stderr ?? '').trim().slice(0, 300)}`)
  const own = `-${process.getuid!()}`
  for (const name of readdirSync(init.dir)) {
    if (!name.endsWith(own) || !statSync(join(init.dir, name)).isDirectory()) continue
    const theirs = join(init.dir, name.slice(0, -own.length) + `-${init.executorUid}`)
    const staging = `${theirs}.new`
    rmSync(staging, { recursive: true, force: true })
    cpSync(join(init.dir, name), staging, { recursive: true })
    readOnly(staging)
    // Renames: an executor starting meanwhile finds the old copy or the new one, never half of one.
    const old = `${theirs}.old`
    rmSync(old, { recursive: true, force: true })
    if (existsSync(theirs)) renameSync(theirs, old)
    renameSync(staging, theirs)
    rmSync(old, { recursive: true, force: true })
  }
  writeFileSync(stampFile, stamp, { mode: 0o644 })
  return 'filled'
}

/** Where the fill records what it filled from. */
const STAMP_FILE = '.filled-from'
/** The code an executor loads: the executor's, the shared core's, the schemas. */
const CODE_DIRS = ['services/executor/src', 'services/core', 'schemas']

/**
 * A digest of what the cache depends on: Node (its path and mtime), the flags, the executor
 * user, and every source file's path, size and mtime (stat only: ~200 files, a few ms), plus
 * the install's lockfile for the dependencies.
 */
function codeStamp (init: { nodeBin: string, executorUid: number, root: string }): string {
  const hash = createHash('sha256')
  const add = (path: string): void => {
    try {
      const s = statSync(path)
      if (s.isDirectory()) {
        if (path.endsWith('/dist') || path.endsWith('/node_modules')) return
        for (const name of readdirSync(path).sort()) add(join(path, name))
      } else {
        hash.update(`${path}\0${s.size}\0${s.mtimeMs}\n`)
      }
    } catch { hash.update(`${path}\0missing\n`) }
  }
  hash.update(JSON.stringify([init.nodeBin, EXECUTOR_NODE_ARGS, init.executorUid, process.version]))
  add(init.nodeBin)
  for (const dir of CODE_DIRS) add(join(init.root, dir))
  add(join(init.root, 'node_modules/.package-lock.json'))
  return hash.digest('hex')
}

function readOnly (path: string): void {
  const s = statSync(path)
  chmodSync(path, s.isDirectory() ? 0o755 : 0o644)
  if (s.isDirectory()) for (const name of readdirSync(path)) readOnly(join(path, name))
}

/** True when the executor user's read-only copy exists (for tests and `phase doctor`). */
export function executorCacheReady (dir: string, executorUid: number): boolean {
  return existsSync(dir) && readdirSync(dir).some((n) => n.endsWith(`-${executorUid}`))
}
