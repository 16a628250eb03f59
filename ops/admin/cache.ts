/**
 * `plasmd cache fill`: puts the code of every process of the node into its compile cache
 * (ops/compile-cache.ts) without starting it, so that the next start — the first after an
 * install or an upgrade, which would otherwise compile all of it, each process loading Node's
 * TypeScript transpiler — starts as fast as a restart (issue 11: start-up ≤ 2 s). The package's
 * postinst runs it before it (re)starts the service, and `npm install` (package.json postinstall)
 * for a checkout's default folders. Each process fills its own cache, with its own flags, as its
 * own user, as a start would: bin/plasmd's step and pm2 (root's `supervisor`), the signer and
 * discovery (`node`, as PHASE_NODE_USER), the executors (`executor`: filled by root, a read-only
 * copy for the executor user). Nothing here runs a job or opens a socket.
 * One JSON line per cache; a fill that fails exits 70 naming it (the node then starts uncached).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CliError, UsageError, parse } from '../../cli/src/usage.ts'
import { EXIT } from '../../cli/src/exit.ts'
import { loadForCli } from './config.ts'
import { compileCaches, fillExecutorCache, supervisorCacheDir, EXECUTOR_NODE_ARGS, FILL_TIMEOUT_MS, SUPERVISOR_NODE_ARGS, V8_FLAGS } from '../compile-cache.ts'
import { cacheFolders, lookupUser, EXECUTOR_USER, type Ids } from '../prepare.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')

interface Part { cache: string, dir: string, ms: number, result: 'filled' | 'current' }

/** Runs one process's entry in its fill mode (`PHASE_FILL_CACHE=1`), as `user` when given. */
function fillAs (what: string, nodeBin: string, args: string[], dir: string, env: NodeJS.ProcessEnv, user?: Ids): void {
  const r = spawnSync(nodeBin, args, {
    cwd: root,
    env: { ...env, NODE_COMPILE_CACHE: dir, PHASE_FILL_CACHE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: FILL_TIMEOUT_MS,
    ...(user === undefined ? {} : { uid: user.uid, gid: user.gid })
  })
  if (r.status !== 0) throw new CliError(`filling the compile cache of ${what} failed (${r.error?.message ?? r.signal ?? `exit ${String(r.status)}`}): ${(r.stderr ?? '').trim().slice(0, 300)}`, EXIT.SOFTWARE)
}

export async function cacheCommand (argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, { config: { type: 'string' } })
  if (positionals.length !== 1 || positionals[0] !== 'fill') throw new UsageError('usage: plasmd cache fill [--config F]')
  const config = loadForCli(values.config as string | undefined, env)
  const nodeBin = env.PHASE_NODE_BIN ?? process.execPath
  const caches = compileCaches(env, config.runtimeDir)
  const asRoot = process.getuid!() === 0
  const parts: Part[] = []
  const timed = (cache: string, dir: string, fill: () => 'filled' | 'current'): void => {
    const t0 = performance.now()
    const result = fill()
    parts.push({ cache, dir, ms: Math.round(performance.now() - t0), result })
  }
  // As root: the folders as a start's preparation makes them, and the users a start runs as.
  let nodeUser: Ids | undefined
  if (asRoot) {
    const name = env.PHASE_NODE_USER
    nodeUser = name === undefined || name === '' ? { name: 'root', uid: 0, gid: 0 } : lookupUser(name)
    if (nodeUser === undefined) throw new CliError(`PHASE_NODE_USER: no user '${name}'`, EXIT.CONFIG)
    cacheFolders(caches, nodeUser)
  } else {
    mkdirSync(caches.node, { recursive: true, mode: 0o700 })
  }
  const supervisor = caches.given ? caches.supervisor : supervisorCacheDir(env)
  if (supervisor !== undefined) {
    timed('supervisor', supervisor, () => { fillAs('plasmd and pm2', nodeBin, [...SUPERVISOR_NODE_ARGS, join(root, 'ops/start.ts')], supervisor, env); return 'filled' })
  }
  timed('node', caches.node, () => {
    for (const name of ['signer', 'discovery']) fillAs(name, nodeBin, [...V8_FLAGS, join(root, `services/${name}/src/main.ts`)], caches.node, env, nodeUser)
    return 'filled'
  })
  const main = join(root, 'services/executor/src/main.ts')
  // As root, root fills and the executor user gets a read-only copy (as a start does); without
  // that user yet (a checkout's `npm install` as root), the first start makes it and fills then.
  // Otherwise the executors are this user and read what it fills.
  const exec = asRoot ? lookupUser(EXECUTOR_USER) : undefined
  if (!asRoot || exec !== undefined) timed('executor', caches.executor, () => {
    if (exec !== undefined) return fillExecutorCache({ dir: caches.executor, nodeBin, main, executorUid: exec.uid, root })
    mkdirSync(caches.executor, { recursive: true, mode: 0o700 })
    fillAs('the executors', nodeBin, [...EXECUTOR_NODE_ARGS, main], caches.executor, env)
    return 'filled'
  })
  for (const p of parts) process.stdout.write(JSON.stringify({ level: 30, time: new Date().toISOString(), name: 'plasmd', msg: 'compile cache', ...p }) + '\n')
  return EXIT.OK
}
