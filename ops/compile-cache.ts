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
import { spawn, spawnSync } from 'node:child_process'
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
 * costs ~35% more CPU per job. Not --memory-saver-mode (the executors' below) for discovery and
 * the signer: it brought them back nearer their idle after load (bench/memory.ts --quick:
 * discovery 1.17-1.18× → 1.08-1.09×, signer after 300 modules 1.37× → 1.21×) but cost the job path
 * (warm-latency A/B, 2 pairs: throughput at 64 in flight 1,245/1,316 → 1,133/1,012 jobs/s, the bare
 * shape chain's p50 0.87-0.96 → 1.07-1.20 ms). Here because Node's compile cache is keyed by them.
 */
export const V8_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc']
/**
 * The executors' flags: also the optimizing compiler for all wasm (no on-stack replacement, so a
 * hot loop in main would otherwise stay on the baseline tier; FACTS, "WebAssembly"), and V8's
 * memory saver mode (issue 11): each gRPC call leaves native memory (http2 streams, buffers) held
 * by JS objects that only a full collection frees, and V8 ran one only every few MiB of heap
 * growth, so thousands of calls' worth piled up and, once freed, stayed in glibc's free lists
 * (malloc_trim, not reachable from JS, gave ~19 MiB back). In saver mode V8 collects sooner and
 * compacts: measured on one executor (2,000 jobs, then 300 distinct modules) anonymous PSS
 * idle 37.5 → 35.6 MiB, after 66-69 → 53-59 MiB; a GC heuristic only, no JIT tier is changed.
 */
export const EXECUTOR_NODE_ARGS: readonly string[] = ['--no-liftoff', '--memory-saver-mode', ...V8_FLAGS]
/** bin/plasmd's own step's flags (ops/start.ts, which becomes pm2-runtime): keys its cache too. */
export const SUPERVISOR_NODE_ARGS: readonly string[] = ['--max-semi-space-size=1']

/**
 * The cache of bin/plasmd's step and pm2 when PHASE_CACHE_DIR names none: the same rule as
 * bin/plasmd's (a shell script, which sets NODE_COMPILE_CACHE before Node starts): the user's
 * cache folder, none without a home.
 */
export function supervisorCacheDir (env: NodeJS.ProcessEnv): string | undefined {
  if (env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '') return join(env.XDG_CACHE_HOME, 'phase')
  if (env.HOME !== undefined && env.HOME !== '' && env.HOME !== '/') return join(env.HOME, '.cache/phase')
  return undefined
}

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

export interface FillInit { dir: string, nodeBin: string, main: string, executorUid: number, root: string }

/**
 * Fills `dir` (root's, 0755) with everything an executor loads, as root, and hands a read-only
 * copy to the executor user: Node keeps one sub-folder per Node version, flags and uid
 * (`v24.21.0-x64-<hash>-<uid>`), so root's is copied to the executor uid's name, root-owned,
 * files 0644. Cheap when nothing changed: root's own run then finds every entry.
 * Blocking (tests); a start fills beside pm2's start (`fillInBackground`).
 */
export function fillExecutorCache (init: FillInit): 'filled' | 'current' {
  const stamp = currentStamp(init)
  if (stamp.current) return 'current'
  const r = spawnSync(init.nodeBin, [...EXECUTOR_NODE_ARGS, init.main], { ...fillOptions(init), encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`filling the executors' compile cache failed (${r.error?.message ?? `exit ${String(r.status)}`}): ${(r.stderr ?? '').trim().slice(0, 300)}`)
  handOver(init, stamp.value)
  return 'filled'
}

export interface BackgroundFill {
  /** 'current' at once when nothing changed; 'filled' once the executors' copy is in place. */
  readonly done: Promise<'filled' | 'current'>
  /** Ends the fill if it still runs (the node is stopping); its half-filled cache is not handed over. */
  readonly stop: () => void
}

/**
 * The fill beside pm2's start rather than before it (issue 11: start-up ≤ 2 s; the fill is one
 * Node start plus one pool worker, ~2 s of CPU on a loaded 2-core machine, and held every first
 * start). pm2, the signer and discovery start meanwhile; the executors wait for it
 * (ops/executor-start.mjs: while FILLING_FILE exists, root's alone to make or remove), then
 * read the cache. Not executors started uncached: each would load Node's transpiler in its
 * main thread and in every pool worker (measured: the first job 1–2 s later than waiting).
 */
export function fillInBackground (init: FillInit): BackgroundFill {
  const stamp = currentStamp(init)
  if (stamp.current) {
    rmSync(join(init.dir, FILLING_FILE), { force: true })
    return { done: Promise.resolve('current'), stop: () => {} }
  }
  const filling = join(init.dir, FILLING_FILE)
  writeFileSync(filling, `${process.pid}\n`, { mode: 0o644 })
  const child = spawn(init.nodeBin, [...EXECUTOR_NODE_ARGS, init.main], fillOptions(init))
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 4096) stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), FILL_TIMEOUT_MS)
  timer.unref()
  let stopped = false
  const done = new Promise<'filled' | 'current'>((resolve, reject) => {
    // Whatever the outcome, the executors stop waiting: without a cache they run uncached.
    const end = (err?: Error): void => {
      clearTimeout(timer)
      rmSync(filling, { force: true })
      if (err === undefined) resolve('filled'); else reject(err)
    }
    child.once('error', end)
    child.once('exit', (code, signal) => {
      if (stopped) return end(new Error('stopped before the fill ended'))
      if (code !== 0) return end(new Error(`filling the executors' compile cache failed (${signal ?? `exit ${String(code)}`}): ${stderr.trim().slice(0, 300)}`))
      try { handOver(init, stamp.value) } catch (err) { return end(err as Error) }
      end()
    })
  })
  done.catch(() => {})
  return { done, stop: () => { stopped = true; child.kill('SIGKILL'); rmSync(filling, { force: true }) } }
}

/**
 * Present while root fills the executors' cache: executors wait for it to go
 * (ops/executor-start.mjs reads the same name). Removed when the fill ends, however it ends; one
 * left by a node killed mid-fill is replaced by the next start's fill, and an executor never
 * waits longer than its bound (FILL_TIMEOUT_MS).
 */
export const FILLING_FILE = '.filling'

function fillOptions (init: FillInit): { env: NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe'], timeout: number } {
  return {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_COMPILE_CACHE: init.dir, PHASE_FILL_CACHE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: FILL_TIMEOUT_MS
  }
}

/** Makes the folder and says whether its executors' copy was filled from this very code. */
function currentStamp (init: FillInit): { value: string, current: boolean } {
  mkdirSync(init.dir, { recursive: true, mode: 0o755 })
  chmodSync(init.dir, 0o755)
  // Every start asks (stat of ~200 files, a few ms); the fill only when the code or Node changed.
  const value = codeStamp(init)
  const stampFile = join(init.dir, STAMP_FILE)
  const current = executorCacheReady(init.dir, init.executorUid) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === value
  return { value, current }
}

/** Root's filled folders, copied to the executor uid's names, read-only; then the stamp. */
function handOver (init: FillInit, stamp: string): void {
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
  writeFileSync(join(init.dir, STAMP_FILE), stamp, { mode: 0o644 })
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
function codeStamp (init: FillInit): string {
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
