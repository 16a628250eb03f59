/**
 * `plasmd prepare`: the privileged half of a node's start, run as root before pm2 (by
 * plasmd.service as `ExecStartPre=+`, and by bin/plasmd itself under `npm start` as root).
 *
 * Privilege separation (README, "Privilege separation"): executors run untrusted code, so they
 * run as their own user (`phase-exec`), which owns nothing, may write only its socket folder,
 * and can neither read the node's keys nor reach the signer. This makes the folders that split
 * hold, checks that the executor user can run the node's code and reach its folder, and with
 * `--unit` writes the unit's memory and task ceilings derived from the configuration.
 *
 *   <state_dir>               node user, 0700        keys, module cache
 *   <runtime_dir>             node user, 0751        signer.sock and pm2/ owner-only, plasmd*.sock for the group;
 *                                                    others (the executor user) may only pass through
 *   <runtime_dir>/pm2         root:root, 0700        pm2's control sockets: no process of the node reaches them
 *   <runtime_dir>/executors   node user : phase-exec, 0770   the executors' sockets, and nothing else
 *   PHASE_CACHE_DIR, else <runtime_dir>/cache   root, 0755   Node's compile caches (ops/compile-cache.ts), one per user:
 *     supervisor/ root 0700, node/ node user 0700, executor/ root 0755 (filled by root beside
 *     pm2's start, only read by the executor user: no process reads a cache a less trusted
 *     user can write)
 *
 * Every step changes something only when it differs, so it also runs without CAP_CHOWN (the
 * unit's main process) once the privileged pre-start has done it. Output: JSON lines.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { executorSocketDir, type NodeConfig } from '../services/core/process/src/config.ts'
import { loadConfigRemembered } from './config-memo.ts'
import { nodeLimits, unitDropIn } from './limits.ts'
import { compileCaches, type CompileCaches, type FillInit } from './compile-cache.ts'

/** The user executors run as whenever the node starts as root. */
export const EXECUTOR_USER = 'phase-exec'
/** Where `--unit` writes the limits (read by systemd at the next daemon-reload and boot). */
export const UNIT_DROP_IN = '/etc/systemd/system/plasmd.service.d/50-limits.conf'
const UNIT = 'plasmd.service'

export interface Ids { name: string, uid: number, gid: number }

/** A user from /etc/passwd (pm2 resolves names the same way). */
export function lookupUser (name: string, passwd = '/etc/passwd'): Ids | undefined {
  for (const line of readFileSync(passwd, 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':')
    if (user === name && uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) }
  }
  return undefined
}

function log (level: 30 | 40 | 50, msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, name: 'plasmd', msg, ...extra }) + '\n')
}

export class PrepareError extends Error {}

/** The executor user, created as the package's postinst does when missing. */
function executorUser (): Ids {
  const existing = lookupUser(EXECUTOR_USER)
  if (existing !== undefined) return existing
  const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent',
    '--shell', '/usr/sbin/nologin', '--comment', 'Phase executors (untrusted WebAssembly)', EXECUTOR_USER], { encoding: 'utf8' })
  const created = lookupUser(EXECUTOR_USER)
  if (r.status !== 0 || created === undefined) {
    throw new PrepareError(`cannot create the executor user ${EXECUTOR_USER} (${(r.stderr ?? r.error?.message ?? '').trim()}): create it yourself: useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${EXECUTOR_USER}`)
  }
  log(30, `created the system user ${EXECUTOR_USER} for the executors`, { uid: created.uid })
  return created
}

/** Makes `path` a folder with exactly this owner, group and mode, touching only what differs. */
function folder (path: string, uid: number, gid: number, mode: number): void {
  let changed = false
  if (!existsSync(path)) { mkdirSync(path, { recursive: true, mode: 0o700 }); changed = true }
  let s = statSync(path)
  if (!s.isDirectory()) throw new PrepareError(`${path} is not a folder`)
  if (s.uid !== uid || s.gid !== gid) { chownSync(path, uid, gid); s = statSync(path); changed = true }
  if ((s.mode & 0o7777) !== mode) { chmodSync(path, mode); changed = true }
  // Said, so that a start which had to change something shows it (the unit's main process must
  // never need to: its pre-start did it, and its system call filter refuses chown).
  if (changed) log(30, 'prepared folder', { path, uid, gid, mode: mode.toString(8) })
}

/** Runs `sh -c script` as the executor user; true when it exits 0. */
function asExecutor (exec: Ids, script: string, args: string[]): boolean {
  const r = spawnSync('/bin/sh', ['-c', script, 'sh', ...args], { uid: exec.uid, gid: exec.gid, stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } })
  return r.status === 0
}

export interface PrepareInit {
  config: NodeConfig
  /** Who runs the signer and discovery (PHASE_NODE_USER; the current user when unset). */
  node: Ids
  /** The node's code: the executor user must be able to run it. */
  root: string
  nodeBin: string
  /** Also write and apply the unit's limits. */
  unit: boolean
  /** The environment naming the compile caches' folder (PHASE_CACHE_DIR; ops/compile-cache.ts). */
  env?: NodeJS.ProcessEnv
}

export function prepare (init: PrepareInit): FillInit {
  const { config, node } = init
  const exec = executorUser()
  const supervisor = process.getuid!()
  folder(config.stateDir, node.uid, node.gid, 0o700)
  folder(config.runtimeDir, node.uid, node.gid, 0o751)
  // root:root whichever step makes it: the unit's main process (group phase) then finds nothing
  // to change, as it must (its system call filter refuses chown).
  folder(join(config.runtimeDir, 'pm2'), supervisor, 0, 0o700)
  folder(executorSocketDir(config.runtimeDir), node.uid, exec.gid, 0o770)
  // The executor user must get to its folder and run the code; nothing else of the node's.
  const main = join(init.root, 'services/executor/src/main.ts')
  const sockets = executorSocketDir(config.runtimeDir)
  if (!asExecutor(exec, 'test -x "$1" && test -r "$2" && test -w "$3" && test -x "$3"', [init.nodeBin, main, sockets])) {
    throw new PrepareError(`the executor user ${EXECUTOR_USER} cannot run ${main} with ${init.nodeBin} or cannot reach ${sockets}: ` +
      'every folder above them must be searchable by other users (chmod o+x), e.g. runtime_dir /run/phase and the code outside /root')
  }
  if (asExecutor(exec, 'test -r "$1" || test -x "$1"', [config.stateDir])) {
    throw new PrepareError(`the executor user ${EXECUTOR_USER} can open ${config.stateDir}: it must be the node user's alone (chmod 700)`)
  }
  const caches = compileCaches(init.env ?? {}, config.runtimeDir)
  cacheFolders(caches, node)
  if (init.unit) unitLimits(config)
  // The executors' cache: filled by root, read by them (ops/compile-cache.ts), by the caller:
  // bin/plasmd's start, beside pm2's (the unit's pre-start would hold the whole start for it).
  return { dir: caches.executor, nodeBin: init.nodeBin, main, executorUid: exec.uid, root: init.root }
}

/**
 * The compile caches' folders (table above), as root: also run by `plasmd cache fill` (ops/admin/cache.ts),
 * which needs them and nothing else of a start's preparation.
 */
export function cacheFolders (caches: CompileCaches, node: Ids): void {
  const supervisor = process.getuid!()
  folder(caches.dir, supervisor, 0, 0o755)
  if (caches.given) folder(caches.supervisor, supervisor, 0, 0o700)
  folder(caches.node, node.uid, node.gid, 0o700)
}

/** Writes the unit's MemoryMax=/TasksMax= drop-in, and applies it now when systemd runs. */
function unitLimits (config: NodeConfig): void {
  const limits = nodeLimits(config)
  const text = unitDropIn(limits, config.source)
  const old = existsSync(UNIT_DROP_IN) ? readFileSync(UNIT_DROP_IN, 'utf8') : ''
  if (old !== text) {
    // Modes set explicitly: the unit's UMask=0077 applies here too, and /etc stays world-readable.
    mkdirSync(dirname(UNIT_DROP_IN), { recursive: true, mode: 0o755 })
    chmodSync(dirname(UNIT_DROP_IN), 0o755)
    writeFileSync(`${UNIT_DROP_IN}.tmp`, text, { mode: 0o644 })
    chmodSync(`${UNIT_DROP_IN}.tmp`, 0o644)
    renameSync(`${UNIT_DROP_IN}.tmp`, UNIT_DROP_IN)
  }
  // systemd reads the drop-in at its next reload; set-property applies the same values to the
  // running unit's cgroup now (--runtime: nothing else persists).
  if (existsSync('/run/systemd/system')) {
    const r = spawnSync('systemctl', ['set-property', '--runtime', UNIT, `MemoryMax=${limits.memoryMaxMb}M`, `TasksMax=${limits.tasksMax}`], { encoding: 'utf8' })
    if (r.status !== 0) log(40, 'could not apply the unit limits now; they apply at the next start', { error: (r.stderr ?? r.error?.message ?? '').trim().slice(0, 200) })
  }
  log(30, 'unit limits', { memory_max_mb: limits.memoryMaxMb, tasks_max: limits.tasksMax, executors: config.executors })
}

function main (argv: string[]): number {
  const unit = argv.includes('--unit')
  try {
    if (process.getuid?.() !== 0) throw new PrepareError('plasmd prepare runs as root (the unit runs it as ExecStartPre=+)')
    // Validated on an earlier start: not again (ops/config-memo.ts; the same folder as the daemon's step).
    const root = join(dirname(new URL(import.meta.url).pathname), '..')
    const config = loadConfigRemembered(process.env, root)
    const name = process.env.PHASE_NODE_USER
    const node = name === undefined || name === '' ? { name: 'root', uid: 0, gid: 0 } : lookupUser(name)
    if (node === undefined) throw new PrepareError(`PHASE_NODE_USER: no user '${name}'`)
    prepare({ config, node, root, nodeBin: process.env.PHASE_NODE_BIN ?? process.execPath, unit, env: process.env })
    return 0
  } catch (err) {
    const config = (err as Error).name === 'InvalidConfigError'
    process.stderr.write(`plasmd prepare: ${(err as Error).message}\n`)
    return config || err instanceof PrepareError ? 78 : 70
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2))
