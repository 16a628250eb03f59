/**
 * Executors after the first load one after another (ops/executor-start.mjs): executor N waits
 * until executor N-1 answers on its socket, for at most PHASE_EXECUTOR_STAGGER_MS, so that on a
 * node's start the first executor, the signer and discovery get the CPU (start-up is CPU-bound).
 * Real executor processes started as pm2 starts them, on unix sockets in a temporary folder.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { EXECUTOR_NODE_ARGS } from '../../ops/compile-cache.ts'
import { MALLOC_ENV } from '../../ops/malloc.ts'
import { NODE, ROOT } from '../helpers/node-harness.ts'

const START = join(ROOT, 'ops/executor-start.mjs')
/** How long an executor that does not wait may take to listen. */
const READY_MS = 60_000

/** The executor under test gets this much of a start on the one it is compared with. */
async function headStart (): Promise<void> { await new Promise((resolve) => setTimeout(resolve, 500)) }

interface Started { child: ChildProcess, listening: Promise<void>, isListening: () => boolean, lines: string[] }

describe('executors load one after another', () => {
  let dir = ''
  const children: ChildProcess[] = []

  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'phase-stagger-')) })
  afterEach(async () => {
    await Promise.all(children.splice(0).map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return
      await new Promise((resolve) => { c.once('exit', resolve); c.kill('SIGTERM') })
    }))
  })
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  /** A node folder of its own (config, runtime folder): executors of different folders never meet. */
  function nodeFolder (name: string): { env: Record<string, string>, sockets: string } {
    const home = join(dir, name)
    mkdirSync(home)
    const config = join(home, 'plasmd.json')
    writeFileSync(config, JSON.stringify({ state_dir: join(home, 'state'), runtime_dir: join(home, 'run'), executors: 2, log_level: 'info', p2p: { enabled: false } }), { mode: 0o600 })
    return { env: { PATH: process.env.PATH ?? '', HOME: home, PHASE_CONFIG: config, PHASE_RUNTIME_DIR: join(home, 'run'), ...MALLOC_ENV }, sockets: join(home, 'run', 'executors') }
  }

  /** One executor as pm2 starts it (index as NODE_APP_INSTANCE); resolves `listening` on its ready line. */
  function startExecutor (env: Record<string, string>, index: number, extra: Record<string, string> = {}): Started {
    const child = spawn(NODE, [...EXECUTOR_NODE_ARGS, START], { env: { ...env, NODE_APP_INSTANCE: String(index), ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(child)
    const lines: string[] = []
    let up = false
    const listening = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line)
        if (line.includes('"grpc server listening"')) { up = true; resolve() }
      })
      createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line))
      child.once('exit', (code) => reject(new Error(`executor ${index} exited with ${code}:\n${lines.join('\n')}`)))
      // Generous (CI's two workers share 2 cores); says what the process printed.
      setTimeout(() => reject(new Error(`executor ${index} (pid ${child.pid}) not listening after ${READY_MS} ms:\n${lines.join('\n')}`)), READY_MS).unref()
    })
    listening.catch(() => {})
    return { child, listening, isListening: () => up, lines }
  }

  it('executor 1 loads only once executor 0 answers on its socket', async () => {
    const node = nodeFolder('ordered')
    const control = nodeFolder('control')
    // Executor 1 of one node starts, then (half a second later: a head start) executor 0 of
    // another, which waits for nobody and does the same work. When that one listens, executor 1
    // (nothing on its node's executor-0 socket, a bound longer than the test) must still wait.
    const second = startExecutor(node.env, 1, { PHASE_EXECUTOR_STAGGER_MS: '600000' })
    await headStart()
    const other = startExecutor(control.env, 0)
    await other.listening
    expect(second.isListening()).toBe(false)
    expect(second.child.exitCode).toBeNull()
    // Executor 0 of its own node comes up: executor 1 follows.
    const first = startExecutor(node.env, 0)
    await first.listening
    await second.listening
    expect(second.lines.join('\n')).toContain(join(node.sockets, 'executor-1.sock'))
  }, 120_000)

  it('a socket file nobody answers on does not count, and the wait is bounded', async () => {
    const node = nodeFolder('stale')
    const control = nodeFolder('stale-control')
    // What a killed executor 0 leaves: the file is there, nothing answers on it.
    mkdirSync(node.sockets, { recursive: true })
    writeFileSync(join(node.sockets, 'executor-0.sock'), '')
    const second = startExecutor(node.env, 1, { PHASE_EXECUTOR_STAGGER_MS: '600000' })
    await headStart()
    const other = startExecutor(control.env, 0)
    await other.listening
    expect(second.isListening()).toBe(false)
    expect(second.child.exitCode).toBeNull()
    // With a bound of 200 ms, an executor 1 whose executor 0 never comes loads anyway.
    const bounded = startExecutor(nodeFolder('bounded').env, 1, { PHASE_EXECUTOR_STAGGER_MS: '200' })
    await bounded.listening
  }, 120_000)
})
