/**
 * Executors after the first load one after another (ops/executor-start.mjs): executor N waits
 * until executor N-1 answers on its socket, for at most PHASE_EXECUTOR_STAGGER_MS, so that on a
 * node's start the first executor, the signer and discovery get the CPU (start-up is CPU-bound).
 * Real executor processes started as pm2 starts them (ops/executor-start.mjs, the index as
 * NODE_APP_INSTANCE, the runtime folder as PHASE_RUNTIME_DIR), on unix sockets in a temporary
 * folder.
 *
 * That one waits is seen against another node's executor 0, which waits for nobody and does the
 * same work, started after it: when that one listens, the one under test would have too
 * (startHeld).
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { EXECUTOR_NODE_ARGS } from '../../ops/compile-cache.ts'
import { MALLOC_ENV } from '../../ops/malloc.ts'
import { executorAddress, executorSocketDir } from '../../services/core/process/src/config.ts'
import { NODE, ROOT } from '../helpers/node-harness.ts'

const START = join(ROOT, 'ops/executor-start.mjs')
/** How long an executor may take to listen once nothing holds it back (CI: two workers on 2 cores). */
const READY_MS = 90_000
/** A bound on the wait longer than any test. */
const FOREVER = '600000'

/** The executor under test gets this much of a start on the one it is compared with. */
async function headStart (): Promise<void> { await new Promise((resolve) => setTimeout(resolve, 500)) }

interface Started {
  child: ChildProcess
  /** Resolves on its ready line; rejects when it exits or, once `expectSoon()` was called, after READY_MS. */
  listening: Promise<void>
  isListening: () => boolean
  /** From now on it should listen within READY_MS (nothing holds it back any more). */
  expectSoon: () => void
  lines: string[]
}

describe('executors load one after another', () => {
  let dir = ''
  const children: ChildProcess[] = []

  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'phase-stagger-')) })
  afterEach(async () => {
    await Promise.all(children.splice(0).map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise((resolve) => c.once('exit', resolve))
      c.kill('SIGTERM')
      const force = setTimeout(() => c.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(force)
    }))
  })
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  /** A node folder of its own (config, runtime folder): executors of different folders never meet. */
  function nodeFolder (name: string): { env: Record<string, string>, runtime: string } {
    const home = join(dir, name)
    mkdirSync(home)
    const config = join(home, 'plasmd.json')
    const runtime = join(home, 'run')
    writeFileSync(config, JSON.stringify({ state_dir: join(home, 'state'), runtime_dir: runtime, executors: 3, log_level: 'info', p2p: { enabled: false } }), { mode: 0o600 })
    return { env: { PATH: process.env.PATH ?? '', HOME: home, PHASE_CONFIG: config, PHASE_RUNTIME_DIR: runtime, ...MALLOC_ENV }, runtime }
  }

  /** One executor as pm2 starts it. `held`: it is expected to wait, so no ready deadline yet. */
  function startExecutor (env: Record<string, string>, index: number, extra: Record<string, string> = {}, held = false): Started {
    const child = spawn(NODE, [...EXECUTOR_NODE_ARGS, START], { env: { ...env, NODE_APP_INSTANCE: String(index), ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(child)
    const lines: string[] = []
    let up = false
    let fail: (err: Error) => void = () => {}
    const listening = new Promise<void>((resolve, reject) => {
      fail = reject
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line)
        if (line.includes('"grpc server listening"')) { up = true; resolve() }
      })
      createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line))
      child.once('exit', (code) => reject(new Error(`executor ${index} exited with ${code}:\n${lines.join('\n')}`)))
    })
    listening.catch(() => {})
    const expectSoon = (): void => {
      setTimeout(() => fail(new Error(`executor ${index} (pid ${child.pid}) not listening ${READY_MS} ms after nothing held it back:\n${lines.join('\n')}`)), READY_MS).unref()
    }
    if (!held) expectSoon()
    return { child, listening, isListening: () => up, expectSoon, lines }
  }

  /**
   * `index` of `node` started, held (a bound longer than the test); it still waits when another
   * node's executor 0, started after it and held by nothing, listens.
   */
  async function startHeld (node: { env: Record<string, string> }, index: number, control: string): Promise<Started> {
    const held = startExecutor(node.env, index, { PHASE_EXECUTOR_STAGGER_MS: FOREVER }, true)
    await headStart()
    await startExecutor(nodeFolder(control).env, 0).listening
    expect(held.isListening()).toBe(false)
    expect(held.child.exitCode).toBeNull()
    return held
  }

  it('executor 1 loads only once executor 0 answers on its socket', async () => {
    const node = nodeFolder('ordered')
    const second = await startHeld(node, 1, 'ordered-control')
    // Its own node's executor 0 comes up: executor 1 follows, on its own socket.
    const first = startExecutor(node.env, 0)
    await first.listening
    second.expectSoon()
    await second.listening
    expect(second.lines.join('\n')).toContain(executorAddress(node.runtime, 1).slice('unix:'.length))
  }, 300_000)

  it('executor 2 waits for executor 1, not for executor 0', async () => {
    const node = nodeFolder('third')
    const first = startExecutor(node.env, 0)
    await first.listening
    // Executor 0 answers; executor 1 is not there.
    const third = await startHeld(node, 2, 'third-control')
    const second = startExecutor(node.env, 1)
    await second.listening
    third.expectSoon()
    await third.listening
  }, 300_000)

  it('a stale socket nobody answers on does not count, and the wait is bounded', async () => {
    const node = nodeFolder('stale')
    // What a killed executor 0 leaves: its socket file, with nothing listening on it.
    const sockets = executorSocketDir(node.runtime)
    mkdirSync(sockets, { recursive: true })
    const stale = join(sockets, 'executor-0.sock')
    const killed = spawn(NODE, ['-e', `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(killed)
    await new Promise<void>((resolve) => killed.stdout!.once('data', () => resolve()))
    killed.kill('SIGKILL')
    await new Promise((resolve) => killed.once('exit', resolve))
    expect(existsSync(stale)).toBe(true)
    await startHeld(node, 1, 'stale-control')
    // With a bound of 200 ms, an executor 1 whose executor 0 never comes loads anyway.
    const bounded = startExecutor(nodeFolder('bounded').env, 1, { PHASE_EXECUTOR_STAGGER_MS: '200' })
    await bounded.listening
  }, 300_000)
})
