/**
 * bin/plasmd (`npm start`, and plasmd.service in the package): the node comes up under
 * pm2-runtime with the configured executor count, runs a job, logs only JSON lines, refuses a
 * bad config naming the key, and stops every process on SIGTERM.
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import { spawn } from 'node:child_process'
import { readFile, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/src/grpc/index.ts'
import { contentHash } from '../../services/core/src/hash-node.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { PLASMD, alive, nodeFolder, phaseCli, startPm2Node, type Pm2Node } from '../helpers/pm2-node.ts'

const nodes: Pm2Node[] = []
const dirs: string[] = []
afterAll(async () => {
  for (const n of nodes) await n.stop()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('plasmd', () => {
  it('runs discovery, signer and the configured executors under pm2, logs JSON only, and stops them all on SIGTERM', async () => {
    const node = await startPm2Node({ executors: 3 }, 3)
    nodes.push(node)
    const client = createGrpcClient(NodeService, node.grpc)
    const hello = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
    const manifest = { version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: ['pm2'] }
    const res = await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(manifest)), module: hello })
    client.close()
    expect(new TextDecoder().decode(res.stdout)).toBe('2mp\n')
    // pm2-runtime itself (bin/plasmd execs it: the pid systemd watches) plus the five processes.
    expect(node.pids.has(node.child.pid!)).toBe(true)
    expect(node.pids.size).toBe(6)
    // pm2 keeps no log files of its own: everything is on stdout for journald.
    const pm2Home = join(node.dir, 'run', 'pm2')
    const logFiles = (await readdir(pm2Home, { recursive: true })).filter((f) => f.endsWith('.log'))
    const written = (await Promise.all(logFiles.map(async (f) => [f, (await stat(join(pm2Home, f))).size] as const))).filter(([, size]) => size > 0)
    expect(written).toEqual([])
    // Every line is a JSON document (pm2-runtime's own banner aside, which is one plain line at most).
    const plain = node.lines.filter((l) => { try { JSON.parse(l); return false } catch { return true } })
    expect(plain.filter((l) => !l.startsWith('stderr:')).length).toBeLessThanOrEqual(1)
    // The public API socket is for the node's user and group; the internal ones are not public.
    expect((await stat(node.grpc.slice('unix:'.length))).mode & 0o777).toBe(0o660)
    const pids = [...node.pids]
    expect(await node.stop()).toBe(0)
    expect(pids.filter(alive)).toEqual([])
  })

  it('refuses a bad config before starting anything, naming the key', async () => {
    const { dir, env } = await nodeFolder({ executors: 'many' })
    dirs.push(dir)
    const child = spawn(PLASMD, [], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect(code).toBe(78)
    expect(stderr).toContain('/executors must be integer')
  })

  it('phase config check / show / get read the same configuration as the node', async () => {
    const { dir, env } = await nodeFolder({ executors: 5, api: { http: { port: 7999 } }, p2p: { enabled: false } })
    dirs.push(dir)
    const ok = await phaseCli(['config', 'check'], env)
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('5 executors')
    expect((await phaseCli(['config', 'get', 'api.http.port'], env)).stdout).toBe('7999\n')
    expect((await phaseCli(['config', 'get', 'runtime_dir'], env)).stdout).toBe(`${join(dir, 'run')}\n`)
    const overridden = await phaseCli(['config', 'get', 'executors'], { ...env, PHASE_EXECUTORS: '7' })
    expect(overridden.stdout).toBe('7\n')
    const shown = JSON.parse((await phaseCli(['config', 'show'], { ...env, PHASE_API_TOKEN: 'sekrit-token-value' })).stdout)
    expect(shown.api.token).toBe('(set)')
    expect(shown.limits.max_memory_mb).toBe(256)
    const unknownKey = await phaseCli(['config', 'get', 'nope'], env)
    expect(unknownKey.code).toBe(64)
    const bad = await phaseCli(['config', 'check'], { ...env, PHASE_EXECUTORS: '99' })
    expect(bad.code).toBe(78)
    expect(bad.stderr).toContain('/executors must be <= 64')
    const noNode = await phaseCli(['node', 'info'], env)
    expect(noNode.code).toBe(69)
    expect(noNode.stderr).toContain(`no node is listening on ${join(dir, 'run', 'plasmd.sock')}`)
    const missing = await phaseCli(['config', 'check', '--config', join(dir, 'absent.json')], env)
    expect(missing.code).toBe(78)
    expect(missing.stderr).toContain('cannot read config')
  })
})
