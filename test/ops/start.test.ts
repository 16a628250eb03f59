/**
 * `npm start` (ops/start.ts → pm2-runtime → ecosystem): the node comes up with the configured
 * executor count, runs a job, refuses a bad config naming the key, and stops every process
 * on SIGTERM.
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/src/grpc/index.ts'
import { contentHash } from '../../services/core/src/hash-node.ts'
import { ROOT, NODE } from '../helpers/node-harness.ts'

const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

async function setup (config: unknown): Promise<{ dir: string, env: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'phase-start-'))
  dirs.push(dir)
  await writeFile(join(dir, 'plasmd.json'), JSON.stringify(config))
  return { dir, env: { PATH: process.env.PATH ?? '', HOME: dir, PHASE_CONFIG: join(dir, 'plasmd.json') } }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

describe('npm start', () => {
  it('runs discovery, signer and the configured executors under pm2, and stops them all on SIGTERM', async () => {
    const { dir, env } = await setup({ executors: 3, api: { http: { port: 0 } }, p2p: { enabled: false } })
    Object.assign(env, { PHASE_STATE_DIR: join(dir, 'state'), PHASE_RUNTIME_DIR: join(dir, 'run') })
    const child: ChildProcess = spawn(NODE, [join(ROOT, 'ops/start.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const pids = new Set<number>()
    const ready = new Set<string>()
    let grpc = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('node did not come up')), 30_000)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let doc: Record<string, unknown>
        try { doc = JSON.parse(line) } catch { return }
        if (typeof doc.pid === 'number') pids.add(doc.pid)
        if (doc.msg === 'discovery ready') grpc = String(doc.grpc)
        if (doc.msg === 'signer ready' || doc.msg === 'discovery ready' || (doc.name === 'executor' && doc.msg === 'grpc server listening')) {
          ready.add(`${String(doc.name)}:${String(doc.executor ?? '')}`)
        }
        if (ready.size === 5) { clearTimeout(timer); resolve() }
      })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`start exited with ${code}`)) })
    })
    expect([...ready].sort()).toEqual(['discovery:', 'executor:0', 'executor:1', 'executor:2', 'signer:'])
    const client = createGrpcClient(NodeService, grpc)
    const hello = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
    const manifest = { version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: ['pm2'] }
    const res = await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(manifest)), module: hello })
    client.close()
    expect(new TextDecoder().decode(res.stdout)).toBe('2mp\n')
    expect(pids.size).toBe(5)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect([...pids].filter(alive)).toEqual([])
  })

  it('refuses a bad config before starting anything, naming the key', async () => {
    const { env } = await setup({ executors: 'many' })
    const child = spawn(NODE, [join(ROOT, 'ops/start.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect(code).toBe(78)
    expect(stderr).toContain('/executors must be integer')
  })
})
