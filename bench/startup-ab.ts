/**
 * Start-up A/B on a shared machine (issue 11): two code roots (e.g. a `git archive` of the base
 * commit with a copy of this worktree's node_modules, and this worktree), started alternately
 * — cold (new folders, empty caches) then two restarts each — so that both see the same load;
 * prints each root's medians to the first job served, and the load average.
 *
 *   node bench/startup-ab.ts RUNS ROOT_A ROOT_B [--p2p]
 *
 * --p2p: the network on (loopback only), as a default configuration has it. The first job is
 * sent once discovery's API is up ('discovery serving local jobs' or 'discovery ready').
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { createInterface } from 'node:readline'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { nodeFolder } from '../test/helpers/pm2-node.ts'
import { sessionPids } from './plasmd-launch.ts'
import { median } from './stats.ts'

const roots = process.argv.slice(3).filter((a) => !a.startsWith('--'))
const p2p = process.argv.includes('--p2p')
  ? { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [] }
  : { enabled: false }
const runs = Number(process.argv[2])
const hello = new Uint8Array(await readFile('examples/hello/hello.wasm'))
async function once (root: string, env: Record<string, string>): Promise<number> {
  const t0 = performance.now()
  const child = spawn(join(root, 'bin/plasmd'), [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const lines: string[] = []
  const exited = new Promise((r) => child.once('exit', r))
  try {
    const grpc = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => { lines.push(l); try { const d = JSON.parse(l); if (d.msg === 'discovery ready' || d.msg === 'discovery serving local jobs (p2p starting)') resolve(String(d.grpc)) } catch {} })
      void exited.then(() => reject(new Error('exited ' + lines.slice(-5).join('\n'))))
    })
    const client = createGrpcClient(NodeService, grpc)
    const manifestJson = new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: ['x'] }))
    for (let i = 0; ; i++) { try { await client.submitJob({ manifestJson, module: hello }); break } catch (e) { if (i > 3000) throw e; await new Promise((r) => setTimeout(r, 10)) } }
    client.close()
    return performance.now() - t0
  } finally {
    try { process.kill(-child.pid!, 'SIGTERM') } catch {}
    await exited
    for (let i = 0; i < 100 && sessionPids(child.pid!).length > 0; i++) await new Promise((r) => setTimeout(r, 100))
    await new Promise((r) => setTimeout(r, 1000))
  }
}
const res: Record<string, { cold: number[], restart: number[] }> = {}
for (const r of roots) res[r] = { cold: [], restart: [] }
const l0 = loadavg()[0]!
for (let i = 0; i < runs; i++) {
  for (const root of (i % 2 === 0 ? roots : [...roots].reverse())) {
    const { dir, env } = await nodeFolder({ api: { http: { host: '127.0.0.1', port: 0 } }, p2p })
    try {
      res[root]!.cold.push(await once(root, env))
      res[root]!.restart.push(await once(root, env))
      res[root]!.restart.push(await once(root, env))
    } finally { await rm(dir, { recursive: true, force: true }) }
  }
}
for (const r of roots) console.log(r, 'cold', median(res[r]!.cold).toFixed(0), JSON.stringify(res[r]!.cold.map(Math.round)), 'restart', median(res[r]!.restart).toFixed(0), JSON.stringify(res[r]!.restart.map(Math.round)))
console.log('load', l0.toFixed(1), loadavg()[0]!.toFixed(1))
