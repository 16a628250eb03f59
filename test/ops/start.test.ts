/**
 * bin/plasmd (`npm start`, and plasmd.service in the package): the node comes up under
 * pm2-runtime with the configured executor count, runs a job, logs only JSON lines, refuses a
 * bad config naming the key, and stops every process on SIGTERM. Started as root (as these
 * tests run), the executors run as the unprivileged user phase-exec: they cannot read the keys,
 * reach the signer or write beside it; started by a normal user, one warning says there is no split.
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { chmod, readFile, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { PLASMD, alive, nodeFolder, phaseCli, plasmdCli, startPm2Node, type Pm2Node } from '../helpers/pm2-node.ts'

const nodes: Pm2Node[] = []

/** Uid, effective capabilities and NoNewPrivs of a process, from /proc/PID/status. */
function credentials (pid: number): { uid: number, capEff: string, capAmb: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): string => new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(status)![1]!
  return { uid: Number(field('Uid')), capEff: field('CapEff'), capAmb: field('CapAmb') }
}

function userIds (name: string): { uid: number, gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))
  if (line === undefined) throw new Error(`no user ${name}`)
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

/**
 * What a process of the given user gets when it tries the node's secrets: read each key file,
 * connect to each socket, create a file in each folder. Each entry is 'ok' or the error code.
 */
function attempt (as: { uid: number, gid: number }, targets: { read: string[], connect: string[], write: string[] }): Record<string, string> {
  const script = `
    const fs = require('node:fs'), net = require('node:net'), path = require('node:path')
    const t = JSON.parse(process.argv[1]), out = {}
    const tryIt = (k, f) => { try { f(); out[k] = 'ok' } catch (e) { out[k] = e.code } }
    for (const p of t.read) tryIt('read ' + p, () => fs.readFileSync(p))
    for (const p of t.write) tryIt('write ' + p, () => { const f = path.join(p, 'probe-' + process.pid); fs.writeFileSync(f, 'x'); fs.unlinkSync(f) })
    Promise.all(t.connect.map((p) => new Promise((resolve) => {
      const s = net.connect(p)
      s.once('connect', () => { out['connect ' + p] = 'ok'; s.destroy(); resolve() })
      s.once('error', (e) => { out['connect ' + p] = e.code; resolve() })
    }))).then(() => process.stdout.write(JSON.stringify(out)))`
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(targets)], { uid: as.uid, gid: as.gid, encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as Record<string, string>
}
const dirs: string[] = []

/** hello.wasm run on the node with one argument, through its gRPC API: its stdout. */
async function helloOn (node: Pm2Node, arg: string): Promise<string> {
  const client = createGrpcClient(NodeService, node.grpc)
  try {
    const hello = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
    const manifest = { version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: [arg] }
    const res = await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(manifest)), module: hello })
    return new TextDecoder().decode(res.stdout)
  } finally {
    client.close()
  }
}
afterAll(async () => {
  for (const n of nodes) await n.stop()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})


/** Runs bin/plasmd with `env` until it exits (a refused start): its exit code and standard error. */
async function plasmdExit (env: NodeJS.ProcessEnv): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(PLASMD, [], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  return { code, stderr }
}
describe('plasmd', () => {
  it('runs discovery, signer and the configured executors under pm2, logs JSON only, and stops them all on SIGTERM', async () => {
    const node = await startPm2Node({ executors: 3 }, 3)
    nodes.push(node)
    expect(await helloOn(node, 'pm2')).toBe('2mp\n')
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

  it('exits 0 on SIGTERM when a process hangs at stop until pm2 kills it, though pm2-runtime\'s auto-exit sees no app online meanwhile', async () => {
    const node = await startPm2Node({ executors: 1 }, 1)
    nodes.push(node)
    const pids = [...node.pids]
    // A frozen executor ignores pm2's SIGINT until kill_timeout (10 s) ends in SIGKILL; meanwhile no
    // app is online, and pm2-runtime's auto-exit (four such checks 2 s apart) called exit(2).
    process.kill(node.byName.get('executor 0')!, 'SIGSTOP')
    expect(await node.stop()).toBe(0)
    expect(pids.filter(alive)).toEqual([])
  }, 60_000)

  it('runs the executors as phase-exec when started as root: no capability, no key, no signer, no write beside their sockets', async () => {
    expect(process.getuid!()).toBe(0) // these tests run as root (CI too); the next test covers a normal user
    const node = await startPm2Node({ executors: 2 }, 2)
    nodes.push(node)
    const exec = userIds('phase-exec')
    for (const name of ['executor 0', 'executor 1']) {
      expect({ name, ...credentials(node.byName.get(name)!) }).toEqual({ name, uid: exec.uid, capEff: '0000000000000000', capAmb: '0000000000000000' })
    }
    // The signer and discovery stay with the user who started the node (root here).
    expect(credentials(node.byName.get('signer')!).uid).toBe(0)
    expect(credentials(node.byName.get('discovery')!).uid).toBe(0)
    const state = join(node.dir, 'state')
    const run = join(node.dir, 'run')
    const targets = {
      read: [join(state, 'receipt-key.json'), join(state, 'identity.key')],
      connect: [join(run, 'signer.sock'), join(run, 'plasmd.sock'), join(run, 'pm2', 'rpc.sock'), join(run, 'executors', 'executor-0.sock')],
      // Compile caches (ops/compile-cache.ts): code their readers run, so none is the executors' to
    // write; theirs is filled by root and only read by them.
      write: [state, run, join(run, 'executors'), join(run, 'cache'), join(run, 'cache', 'node'), join(run, 'cache', 'executor'), join(node.dir, '.cache', 'phase')]
    }
    // The same probe as root reaches everything: it can fail.
    expect(Object.values(attempt({ uid: 0, gid: 0 }, targets)).every((v) => v === 'ok')).toBe(true)
    expect(attempt(exec, targets)).toEqual({
      [`read ${join(state, 'receipt-key.json')}`]: 'EACCES',
      [`read ${join(state, 'identity.key')}`]: 'EACCES',
      [`connect ${join(run, 'signer.sock')}`]: 'EACCES',
      [`connect ${join(run, 'plasmd.sock')}`]: 'EACCES',
      [`connect ${join(run, 'pm2', 'rpc.sock')}`]: 'EACCES',
      [`connect ${join(run, 'executors', 'executor-0.sock')}`]: 'ok',
      [`write ${state}`]: 'EACCES',
      [`write ${run}`]: 'EACCES',
      [`write ${join(run, 'executors')}`]: 'ok',
      [`write ${join(run, 'cache')}`]: 'EACCES',
      [`write ${join(run, 'cache', 'node')}`]: 'EACCES',
      [`write ${join(run, 'cache', 'executor')}`]: 'EACCES',
      [`write ${join(node.dir, '.cache', 'phase')}`]: 'EACCES'
    })
    const cacheOf = (pid: number): string | undefined => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((v) => v.startsWith('NODE_COMPILE_CACHE='))?.slice('NODE_COMPILE_CACHE='.length)
    expect(['signer', 'discovery', 'executor 0', 'executor 1'].map((n) => [n, cacheOf(node.byName.get(n)!)])).toEqual([
      ['signer', join(run, 'cache', 'node')], ['discovery', join(run, 'cache', 'node')], ['executor 0', join(run, 'cache', 'executor')], ['executor 1', join(run, 'cache', 'executor')]
    ])
    const theirs = (await readdir(join(run, 'cache', 'executor'))).filter((n) => n.endsWith(`-${exec.uid}`))
    // One for the executor's main thread, one for its pool's workers (their V8 flags differ).
    expect(theirs).toHaveLength(2)
    for (const t of theirs) {
      expect((await stat(join(run, 'cache', 'executor', t))).uid).toBe(0)
      expect(Object.values(attempt(exec, { read: [], connect: [], write: [join(run, 'cache', 'executor', t)] }))).toEqual(['EACCES'])
    }
    expect((await stat(join(run, 'cache', 'node'))).mode & 0o777).toBe(0o700)
    expect((await readdir(join(run, 'cache', 'node'))).length).toBeGreaterThan(0)
    // And jobs run.
    expect(await helloOn(node, 'split')).toBe('tilps\n')
    expect(await node.stop()).toBe(0)
  })

  it('fills the executors\' compile cache beside pm2\'s start on a first start as root; the executors wait for it, then serve', async () => {
    // issue 11 (start-up ≤ 2 s): the fill used to run before pm2 started anything.
    const node = await startPm2Node({ executors: 2 }, 2)
    nodes.push(node)
    const index = (pred: (d: Record<string, unknown>) => boolean): number[] => node.lines.flatMap((l, i) => {
      try { return pred(JSON.parse(l) as Record<string, unknown>) ? [i] : [] } catch { return [] }
    })
    const filled = index((d) => d.name === 'plasmd' && d.msg === 'filled the executors\' compile cache')
    const pm2 = index((d) => d.message === 'Launching in no daemon mode' || d.msg === 'Launching in no daemon mode')
    const listening = index((d) => d.name === 'executor' && d.msg === 'grpc server listening')
    expect(filled).toHaveLength(1)
    expect(pm2).toHaveLength(1)
    expect(listening).toHaveLength(2)
    expect(pm2[0]!).toBeLessThan(filled[0]!)
    for (const i of listening) expect(i).toBeGreaterThan(filled[0]!)
    const cache = join(node.dir, 'run', 'cache', 'executor')
    expect((await readdir(cache)).filter((n) => n.startsWith('.'))).toEqual(['.filled-from'])
    expect(await helloOn(node, 'first')).toBe('tsrif\n')
    expect(await node.stop()).toBe(0)
  })

  it('warns once and runs every process as that user when a normal user starts it', async () => {
    const nobody = userIds('nobody')
    const node = await startPm2Node({ executors: 1 }, 1, { as: nobody })
    nodes.push(node)
    const warnings = node.lines.filter((l) => l.includes('"name":"plasmd"'))
    expect(warnings.length).toBe(1)
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('not started as root') })
    for (const name of ['signer', 'discovery', 'executor 0']) expect({ name, uid: credentials(node.byName.get(name)!).uid }).toEqual({ name, uid: nobody.uid })
    expect(await helloOn(node, 'dev')).toBe('ved\n')
    expect(await node.stop()).toBe(0)
  })

  it('refuses to start as root when the executor user cannot reach its socket folder, saying why', async () => {
    const { dir, env } = await nodeFolder({ p2p: { enabled: false }, api: { http: { port: 0 } } })
    dirs.push(dir)
    await chmod(dir, 0o700)
    const { code, stderr } = await plasmdExit(env)
    expect(code).toBe(78)
    expect(stderr).toContain(`the executor user phase-exec cannot run`)
    expect(stderr).toContain(join(dir, 'run', 'executors'))
  })

  it('refuses a bad config before starting anything, naming the key', async () => {
    const { dir, env } = await nodeFolder({ executors: 'many' })
    dirs.push(dir)
    const { code, stderr } = await plasmdExit(env)
    expect(code).toBe(78)
    expect(stderr).toContain('/executors must be integer')
  })

  it('starts filling the executors\' compile cache before the configuration is checked (a first start as root), and a bad configuration then stops the fill: no mark, no process left', async () => {
    // issue 11 (start-up ≤ 2 s): on a first start the executors wait for the fill, and the check
    // of a configuration not seen before (the schema's compile) held its start.
    const { dir, env } = await nodeFolder({ executors: 'many' })
    dirs.push(dir)
    const { code, stderr } = await plasmdExit(env)
    expect(code).toBe(78)
    expect(stderr).toContain('/executors must be integer')
    // The fill had begun (its folder made under the runtime folder the environment names) ...
    const cache = join(dir, 'run', 'cache', 'executor')
    expect((await stat(cache)).isDirectory()).toBe(true)
    // ... and ended with the start: its mark removed, nothing handed over, its process gone.
    expect((await readdir(cache)).filter((n) => n.startsWith('.fill'))).toEqual([])
    expect((await readdir(cache)).filter((n) => n.endsWith(`-${userIds('phase-exec').uid}`))).toEqual([])
    const filling = (): number[] => readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).filter((p) => {
      try { return readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`NODE_COMPILE_CACHE=${cache}`) } catch { return false }
    }).map(Number)
    expect(filling()).toEqual([])
  })

  it('plasmd config check / show / get read the same configuration as the node', async () => {
    const { dir, env } = await nodeFolder({ executors: 5, api: { http: { port: 7999 } }, p2p: { enabled: false } })
    dirs.push(dir)
    const ok = await plasmdCli(['config', 'check'], env)
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('5 executors')
    expect((await plasmdCli(['config', 'get', 'api.http.port'], env)).stdout).toBe('7999\n')
    expect((await plasmdCli(['config', 'get', 'runtime_dir'], env)).stdout).toBe(`${join(dir, 'run')}\n`)
    const overridden = await plasmdCli(['config', 'get', 'executors'], { ...env, PHASE_EXECUTORS: '7' })
    expect(overridden.stdout).toBe('7\n')
    const shown = JSON.parse((await plasmdCli(['config', 'show'], { ...env, PHASE_API_TOKEN: 'sekrit-token-value' })).stdout)
    expect(shown.api.token).toBe('(set)')
    expect(shown.limits.max_memory_mb).toBe(256)
    const unknownKey = await plasmdCli(['config', 'get', 'nope'], env)
    expect(unknownKey.code).toBe(64)
    const bad = await plasmdCli(['config', 'check'], { ...env, PHASE_EXECUTORS: '99' })
    expect(bad.code).toBe(78)
    expect(bad.stderr).toContain('/executors must be <= 64')
    const noNode = await phaseCli(['node', 'info'], env)
    expect(noNode.code).toBe(69)
    expect(noNode.stderr).toContain(`no node is listening on ${join(dir, 'run', 'plasmd.sock')}`)
    const missing = await plasmdCli(['config', 'check', '--config', join(dir, 'absent.json')], env)
    expect(missing.code).toBe(78)
    expect(missing.stderr).toContain('cannot read config')
  })
})
