/**
 * `plasmd` (bin/plasmd, `npm start`, plasmd.service's ExecStart): the whole start of a node in
 * one Node process — check the configuration (a bad key stops here, named, exit 78), as root make
 * the privilege split hold (ops/prepare.ts) and fill the executors' compile cache beside pm2's
 * start, then become pm2-runtime, which supervises the
 * signer, the executors and discovery (ops/ecosystem.config.cjs). It used to be three Node
 * steps (`phase config get`, `plasmd prepare`, pm2-runtime); each paid Node's start and its
 * imports again (issue 11: start-up ≤ 2 s). pm2 loads the same configuration modules when it
 * reads the ecosystem, so nothing stays loaded here that pm2 would not hold anyway.
 */
import { createRequire, flushCompileCache } from 'node:module'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig, type NodeConfig } from '../services/core/process/src/config.ts'
import { logFormat, readableWriter } from '../services/core/process/src/log-lines.ts'
import { prepare, lookupUser, EXECUTOR_USER, PrepareError, type Ids } from './prepare.ts'
import { compileCaches, fillInBackground, type BackgroundFill, type FillInit } from './compile-cache.ts'
import { loadConfigRemembered } from './config-memo.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function log (level: 30 | 40, msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, name: 'plasmd', msg, ...extra }) + '\n')
}

interface Fill { init: FillInit, fill: BackgroundFill, t0: number }

/**
 * The executors' compile cache fill (below) started before the configuration is checked: on a
 * first start (empty cache) the executors wait for it, and they are what the first job waits
 * for last; checking a configuration not seen before compiles its schema (~200 ms of CPU, one
 * core) first. Only as root, with the executor user there, and when the configuration read
 * without its check names an absolute folder; used only if the checked configuration and the
 * preparation lead to the very same fill, else stopped. A start that then stops (a bad key)
 * stops it too, and hands nothing over (the folder it made for the cache stays).
 */
function earlyFill (): Fill | undefined {
  if (process.getuid!() !== 0) return undefined
  try {
    const exec = lookupUser(EXECUTOR_USER)
    if (exec === undefined) return undefined
    const { runtimeDir } = loadConfig({ env: process.env, unchecked: true })
    if (!runtimeDir.startsWith('/')) return undefined
    const init: FillInit = { dir: compileCaches(process.env, runtimeDir).executor, nodeBin: process.env.PHASE_NODE_BIN ?? process.execPath, main: join(root, 'services/executor/src/main.ts'), executorUid: exec.uid, root }
    const t0 = performance.now()
    const fill = fillInBackground(init)
    process.once('exit', fill.stop)
    return { init, fill, t0 }
  } catch {
    return undefined
  }
}

/** Config check and, as root, the privileged preparation; the exit code when the start must stop. */
function check (early: Fill | undefined): { config: NodeConfig } | { exit: number } {
  let config: NodeConfig
  try {
    // A configuration validated on an earlier start is not validated again (ops/config-memo.ts).
    config = loadConfigRemembered(process.env, root)
  } catch (err) {
    process.stderr.write(`plasmd: ${(err as Error).message}\n`)
    return { exit: 78 }
  }
  if (process.getuid!() !== 0) {
    // Without root there is no second user to run the executors as (README, "Privilege separation").
    let me = String(process.getuid!())
    try { me = userInfo().username } catch {}
    log(40, `not started as root: the executors run as ${me}, like the signer, and could read the node keys (development only; the package and root starts run them as ${EXECUTOR_USER})`)
    return { config }
  }
  try {
    const name = process.env.PHASE_NODE_USER
    const node: Ids | undefined = name === undefined || name === '' ? { name: 'root', uid: 0, gid: 0 } : lookupUser(name)
    if (node === undefined) throw new PrepareError(`PHASE_NODE_USER: no user '${name}'`)
    fillExecutorsCache(prepare({ config, node, root, nodeBin: process.env.PHASE_NODE_BIN ?? process.execPath, unit: false, env: process.env }), early)
  } catch (err) {
    process.stderr.write(`plasmd prepare: ${(err as Error).message}\n`)
    return { exit: err instanceof PrepareError ? 78 : 70 }
  }
  return { config }
}

/**
 * The executors' compile cache (ops/compile-cache.ts), filled while pm2 starts the signer and
 * discovery rather than before (issue 11: it held every first start ~2 s); the executors wait
 * for it (ops/executor-start.mjs). A fill still running when the node stops ends with it.
 */
function fillExecutorsCache (init: FillInit, early: Fill | undefined): void {
  let started = early
  if (started !== undefined && JSON.stringify(started.init) !== JSON.stringify(init)) {
    started.fill.stop()
    started = undefined
  }
  if (started === undefined) {
    started = { init, fill: fillInBackground(init), t0: performance.now() }
    process.once('exit', started.fill.stop)
  }
  const { fill, t0 } = started
  fill.done.then((r) => {
    if (r === 'filled') log(30, 'filled the executors\' compile cache', { dir: init.dir, ms: Math.round(performance.now() - t0) })
  }, (err: Error) => {
    if (!err.message.startsWith('stopped before')) log(40, `the executors start without a compile cache: ${err.message}`)
  })
}

// On a terminal (`npm start`), every line this process writes — its own, pm2's and the ones
// pm2-runtime forwards from the apps (JSON: their stdout is pm2's pipe) — is shown readable.
// Piped or under systemd (journald), the JSON lines pass as they are.
if (logFormat(process.stdout, process.env) === 'readable') {
  for (const stream of [process.stdout, process.stderr]) {
    stream.write = readableWriter(stream.write.bind(stream)) as typeof stream.write
  }
}

if (process.env.PHASE_FILL_CACHE === '1') {
  // `plasmd cache fill` (ops/admin/cache.ts): this step's code (imported
  // above), the ecosystem file pm2 reads and pm2's own into this step's compile cache; no start.
  // pm2 makes its home's folders when loaded: a throwaway one, not the user's ~/.pm2.
  const home = mkdtempSync(join(tmpdir(), 'phase-fill-pm2-'))
  process.env.PM2_HOME = home
  try {
    require(join(root, 'ops/ecosystem.config.cjs'))
    // What pm2-runtime loads (Runtime4Docker, which starts it, is the one file left out).
    for (const m of ['pm2', 'pm2/lib/API/Log', 'pm2/lib/God.js', 'pm2/lib/Daemon.js', 'pm2/lib/Watcher.js', 'pidusage']) require(m)
    flushCompileCache()
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
  process.exit(0)
}

const early = earlyFill()
const checked = check(early)
if ('exit' in checked) {
  // The start stops here: so does a fill begun before the check (its child would hold the exit).
  early?.fill.stop()
  process.exitCode = checked.exit
} else {
  process.env.PM2_HOME ||= join(checked.config.runtimeDir, 'pm2')
  process.env.PM2_DISABLE_VERSION_CHECK = 'true'
  // The three apps start side by side (pm2's default is two at a time).
  process.env.PM2_CONCURRENT_ACTIONS ||= '4'
  // pm2's own messages as JSON lines (must patch console before pm2 loads), then pm2-runtime as
  // if run as `pm2-runtime start ops/ecosystem.config.cjs`.
  require('./pm2-json-console.cjs')
  stopEndsWithZero()
  process.argv = [process.argv[0]!, join(root, 'node_modules/pm2/bin/pm2-runtime'), 'start', join(root, 'ops/ecosystem.config.cjs')]
  require('pm2/lib/binaries/Runtime4Docker.js')
}

/**
 * A stop asked for (systemd's SIGTERM, a SIGINT) ends with exit status 0. pm2-runtime's auto-exit
 * (no app online at four checks 2 s apart → exit 2, for a node whose apps all failed) also sees no
 * app online while a stop waits for a process that hangs until pm2 kills it (kill_timeout 10 s),
 * and its exit 2 then won the race: `systemctl stop` left the unit failed. Only that code is
 * changed, and only after such a signal; a signal before pm2-runtime listens ends the process as
 * it would have without this listener.
 */
function stopEndsWithZero (): void {
  let asked = false
  const onSignal = (signal: NodeJS.Signals): void => {
    asked = true
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  process.on('exit', (code) => { if (asked && code === 2) process.exitCode = 0 })
}
