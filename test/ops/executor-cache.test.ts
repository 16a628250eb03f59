/**
 * The executors' compile cache (ops/compile-cache.ts): filled by root with everything an
 * executor loads, read-only to the executor user, and complete — an executor that reads it
 * never transpiles TypeScript (so never loads Node's transpiler, ~16 MiB per executor).
 * As root (these tests run as root, CI too), with the real phase-exec user.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { fillExecutorCache, fillInBackground, executorCacheReady, EXECUTOR_NODE_ARGS, FILLING_FILE, V8_FLAGS } from '../../ops/compile-cache.ts'
import { lookupUser, EXECUTOR_USER } from '../../ops/prepare.ts'
import { ROOT } from '../helpers/node-harness.ts'

const NODE = join(ROOT, 'node_modules/node/bin/node')
const MAIN = join(ROOT, 'services/executor/src/main.ts')

/** Loads everything an executor loads, as the executor user, with Node's compile-cache log on. */
function loadAsExecutor (dir: string, args: readonly string[]): { status: number | null, log: string } {
  const r = spawnSync('runuser', ['-u', EXECUTOR_USER, '--', 'env', `NODE_COMPILE_CACHE=${dir}`, 'NODE_DEBUG_NATIVE=COMPILE_CACHE', 'PHASE_FILL_CACHE=1', NODE, ...args, MAIN], { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, log: r.stderr }
}

describe('the executors\' compile cache', () => {
  const exec = lookupUser(EXECUTOR_USER)
  let dir = ''

  beforeAll(() => {
    expect(process.getuid!()).toBe(0)
    expect(exec).toBeDefined()
    // The folder lives where the executor user may pass (its code is under ROOT, searchable).
    dir = mkdtempSync(join(tmpdir(), 'phase-exec-cache-'))
    chmodSync(dir, 0o755)
    expect(fillExecutorCache({ dir: join(dir, 'executor'), nodeBin: NODE, main: MAIN, executorUid: exec!.uid, root: ROOT })).toBe('filled')
  }, 60_000)

  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  it('gives the executor user a root-owned copy it can read but not write', () => {
    const cache = join(dir, 'executor')
    expect(executorCacheReady(cache, exec!.uid)).toBe(true)
    const theirs = readdirSync(cache).find((n) => n.endsWith(`-${exec!.uid}`))!
    const s = statSync(join(cache, theirs))
    expect(s.uid).toBe(0)
    expect(s.mode & 0o022).toBe(0)
    for (const f of readdirSync(join(cache, theirs))) expect(statSync(join(cache, theirs, f)).mode & 0o777).toBe(0o644)
    const write = spawnSync('runuser', ['-u', EXECUTOR_USER, '--', 'sh', '-c', 'touch "$1"/x', 'sh', join(cache, theirs)], { encoding: 'utf8' })
    expect(write.status).not.toBe(0)
  })

  it('holds every TypeScript file an executor loads: none is transpiled at its start', () => {
    const { status, log } = loadAsExecutor(join(dir, 'executor'), EXECUTOR_NODE_ARGS)
    expect(status).toBe(0)
    const hits = log.split('\n').filter((l) => l.includes('retrieving transpile cache for StrippedTypeScript'))
    const misses = log.split('\n').filter((l) => l.includes('no transpile cache for StrippedTypeScript'))
    expect(misses).toEqual([])
    // main.ts, the pool worker and the packages they import.
    expect(hits.length).toBeGreaterThan(40)
    expect(hits.some((l) => l.includes('/services/executor/src/worker.ts'))).toBe(true)
  }, 60_000)

  it('serves a started worker pool too (its workers run under flags of their own): no transpile, no transpiler loaded', () => {
    // A real pool start as the executor user; the pool warms Node's type stripper only where a
    // worker could miss (services/executor/src/pool.ts), and a worker that misses transpiles.
    const script = join(dir, 'pool-start.mjs')
    writeFileSync(script, `import { createV8Runtime } from ${JSON.stringify(pathToFileURL(join(ROOT, 'services/executor/src/index.ts')).href)}
      const r = createV8Runtime({ workers: 1 }); await r.start(); await r.stop()
      console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('amaro'))))`, { mode: 0o644 })
    const r = spawnSync('runuser', ['-u', EXECUTOR_USER, '--', 'env', `NODE_COMPILE_CACHE=${join(dir, 'executor')}`, 'NODE_DEBUG_NATIVE=COMPILE_CACHE', NODE, ...EXECUTOR_NODE_ARGS, script], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status).toBe(0)
    expect(r.stderr).not.toMatch(/no transpile cache for StrippedTypeScript|Cannot create cache directory/)
    expect(r.stderr).toMatch(/retrieving transpile cache for StrippedTypeScript [^\n]*\/services\/executor\/src\/worker\.ts\.\.\.success/)
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual([])
  }, 60_000)

  it('is keyed by the flags: started with other flags, an executor would miss (so the fill must use the executors\')', () => {
    const { log } = loadAsExecutor(join(dir, 'executor'), V8_FLAGS)
    expect(log).toMatch(/Cannot create cache directory: permission denied|no transpile cache for StrippedTypeScript/)
  }, 60_000)

  it('fills again only when the code changed (every start asks)', () => {
    const init = { dir: join(dir, 'executor'), nodeBin: NODE, main: MAIN, executorUid: exec!.uid, root: ROOT }
    expect(fillExecutorCache(init)).toBe('current')
    // A code tree of its own, so the test can change a file of it.
    const tree = join(dir, 'tree')
    mkdirSync(join(tree, 'schemas'), { recursive: true })
    writeFileSync(join(tree, 'schemas', 'x.json'), '{}')
    expect(fillExecutorCache({ ...init, root: tree })).toBe('filled')
    expect(fillExecutorCache({ ...init, root: tree })).toBe('current')
    writeFileSync(join(tree, 'schemas', 'x.json'), '{"changed":true}')
    expect(fillExecutorCache({ ...init, root: tree })).toBe('filled')
  }, 60_000)

  it('fills beside the start: marked while it runs, handed over read-only, then current with no mark', async () => {
    const init = { dir: join(dir, 'background'), nodeBin: NODE, main: MAIN, executorUid: exec!.uid, root: ROOT }
    const fill = fillInBackground(init)
    // Marked from the moment it starts (the executors wait on the mark), gone once it is over.
    expect(existsSync(join(init.dir, FILLING_FILE))).toBe(true)
    expect(statSync(join(init.dir, FILLING_FILE)).uid).toBe(0)
    expect(await fill.done).toBe('filled')
    expect(existsSync(join(init.dir, FILLING_FILE))).toBe(false)
    expect(executorCacheReady(init.dir, exec!.uid)).toBe(true)
    const again = fillInBackground(init)
    expect(existsSync(join(init.dir, FILLING_FILE))).toBe(false)
    expect(await again.done).toBe('current')
  }, 60_000)

  it('hands nothing over and leaves no mark when stopped mid-fill (the node stopped)', async () => {
    const init = { dir: join(dir, 'stopped'), nodeBin: NODE, main: MAIN, executorUid: exec!.uid, root: ROOT }
    const fill = fillInBackground(init)
    fill.stop()
    await expect(fill.done).rejects.toThrow(/stopped before the fill ended/)
    expect(existsSync(join(init.dir, FILLING_FILE))).toBe(false)
    expect(executorCacheReady(init.dir, exec!.uid)).toBe(false)
    // The next start fills it.
    expect(await fillInBackground(init).done).toBe('filled')
  }, 60_000)

  it('starts an executor (ops/executor-start.mjs) only once the fill is over, and it then reads the cache: no transpile', async () => {
    // As pm2 runs it on a first start: the executor user's copy does not exist yet (Node's own
    // start-up turn-on of the cache fails), root's fill is marked; the fill here ends only
    // when the test says so, so the order is certain.
    const cache = join(dir, 'waiting')
    mkdirSync(cache, { mode: 0o755 })
    chmodSync(cache, 0o755)
    writeFileSync(join(cache, FILLING_FILE), 'test\n', { mode: 0o644 })
    const child = spawn('runuser', ['-u', EXECUTOR_USER, '--', 'env', `NODE_COMPILE_CACHE=${cache}`, 'NODE_DEBUG_NATIVE=COMPILE_CACHE', 'PHASE_FILL_CACHE=1',
      NODE, ...EXECUTOR_NODE_ARGS, join(ROOT, 'ops/executor-start.mjs')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { log += d })
    let exited = false
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => { exited = true; resolve(code) }))
    expect(fillExecutorCache({ dir: cache, nodeBin: NODE, main: MAIN, executorUid: exec!.uid, root: ROOT })).toBe('filled')
    // Filled and handed over, still marked: the executor is still waiting.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(exited).toBe(false)
    expect(log).not.toMatch(/transpile cache for StrippedTypeScript/)
    rmSync(join(cache, FILLING_FILE))
    expect(await exit).toBe(0)
    expect(log).toMatch(/Cannot create cache directory: permission denied/)
    expect(log).not.toMatch(/no transpile cache for StrippedTypeScript/)
    expect(log).toMatch(/retrieving transpile cache for StrippedTypeScript [^\n]*\/services\/executor\/src\/main\.ts\.\.\.success/)
    expect(log).toMatch(/retrieving transpile cache for StrippedTypeScript [^\n]*\/services\/executor\/src\/worker\.ts\.\.\.success/)
  }, 60_000)
})
