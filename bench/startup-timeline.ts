/**
 * Where start-up time goes (issue 11): launches bin/plasmd as bench/startup.ts does, and prints
 * per process the time of its first log line and of its 'ready' line (from the lines' own `time`,
 * relative to the launch), for a cold start and a restart; then, once all are ready, serves one
 * job and reads the CPU each process spent (user + system) up to it, which a loaded machine
 * changes far less than the times; medians over runs, load average beside.
 *
 *   node bench/startup-timeline.ts [runs] [--p2p]
 *
 * --p2p: the network on, as a default configuration has it (libp2p loaded and started), on
 * loopback only (TCP and QUIC on 127.0.0.1, no mDNS, no bootstrap peers).
 */
import { readFile, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { loadavg } from 'node:os'
import { nodeFolder } from '../test/helpers/pm2-node.ts'
import { launchPlasmd } from './plasmd-launch.ts'
import { median } from './stats.ts'
import { processCpuMs } from './cpu-per-job.ts'

type Marks = Map<string, number>

const hello = new Uint8Array(await readFile(new URL('../examples/hello/hello.wasm', import.meta.url)))

/** utime + stime (and the reaped children's, with `children`) of `pid`, in ms; undefined once it is gone. */
function cpuMs (pid: number, children: boolean): number | undefined {
  try { return processCpuMs(pid, children) } catch { return undefined }
}

async function once (env: Record<string, string>): Promise<Marks> {
  const t0 = Date.now()
  const node = launchPlasmd(env)
  const marks: Marks = new Map()
  try {
    const { grpc } = await node.discovery
    await node.executors(2)
    // The first job (hello.wasm), then the CPU: what the start cost up to a job served.
    const client = createGrpcClient(NodeService, grpc)
    try {
      const manifestJson = new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: ['x'] }))
      const t = Date.now()
      await client.submitJob({ manifestJson, module: hello })
      marks.set('first job (sent once all are ready): ms', Date.now() - t)
    } finally { client.close() }
    // CPU each process spent up to here (user + system, /proc/PID/stat): robust to the machine's
    // load where wall times are not. pm2's includes bin/plasmd's step and the children it reaped
    // (the executors' compile-cache fill).
    for (const [who, pid] of [['pm2', node.child.pid!] as const, ...node.byName]) {
      const cpu = cpuMs(pid, who === 'pm2')
      if (cpu !== undefined) marks.set(`cpu ${who}`, cpu)
    }
    for (const line of node.lines) {
      let doc: Record<string, unknown>
      try { doc = JSON.parse(line) } catch { continue }
      const t = (typeof doc.time === 'string' ? Date.parse(doc.time) : Number(doc.time)) - t0
      const who = doc.name === 'executor' ? `executor ${String(doc.executor ?? '?')}` : String(doc.name ?? 'pm2')
      const msg = String(doc.msg ?? doc.message ?? '').slice(0, 60)
      if (!marks.has(`${who}: first`) && !msg.startsWith('prepared')) marks.set(`${who}: first`, t)
      marks.set(`${who}: ${msg}`, t)
    }
  } finally {
    await node.stop()
  }
  return marks
}

const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 5)
const p2p = process.argv.includes('--p2p')
  ? { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [] }
  : { enabled: false }
const cold: Marks[] = []
const warm: Marks[] = []
const load0 = loadavg()[0]!
for (let i = 0; i < runs; i++) {
  const { dir, env } = await nodeFolder({ api: { http: { host: '127.0.0.1', port: 0 } }, p2p })
  try {
    cold.push(await once(env))
    warm.push(await once(env))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
const show = (title: string, all: Marks[]): void => {
  console.log(`\n${title} (median of ${all.length}, ms since launch)`)
  const keys = [...new Set(all.flatMap((m) => [...m.keys()]))]
  const rows = keys.map((k) => [k, median(all.map((m) => m.get(k)).filter((v): v is number => v !== undefined))] as const)
  for (const [k, v] of rows.filter(([k]) => !k.startsWith('cpu ') && !k.startsWith('first job')).sort((a, b) => a[1] - b[1])) console.log(`${String(Math.round(v)).padStart(6)}  ${k}`)
  const cpu = rows.filter(([k]) => k.startsWith('cpu '))
  console.log(`  first job, sent once all are ready: ${Math.round(rows.find(([k]) => k.startsWith('first job'))?.[1] ?? NaN)} ms`)
  console.log(`  CPU ms to the first job served: ${cpu.map(([k, v]) => `${k.slice(4)} ${Math.round(v)}`).join(', ')}; sum of medians ${Math.round(cpu.reduce((a, [, v]) => a + v, 0))}`)
}
show('cold', cold)
show('restart', warm)
console.log(`\nload average 1 min: ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`)
