/**
 * Where start-up time goes (issue 11): launches bin/plasmd as bench/startup.ts does, and prints
 * per process the time of its first log line and of its 'ready' line (from the lines' own `time`,
 * relative to the launch), for a cold start and a restart; medians over runs, load average beside.
 *
 *   node bench/startup-timeline.ts [runs]
 */
import { rm } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { nodeFolder } from '../test/helpers/pm2-node.ts'
import { launchPlasmd } from './plasmd-launch.ts'
import { median } from './stats.ts'

type Marks = Map<string, number>

async function once (env: Record<string, string>): Promise<Marks> {
  const t0 = Date.now()
  const node = launchPlasmd(env)
  const marks: Marks = new Map()
  try {
    await node.discovery
    await node.executors(2)
    for (const line of node.lines) {
      let doc: Record<string, unknown>
      try { doc = JSON.parse(line) } catch { continue }
      const t = (typeof doc.time === "string" ? Date.parse(doc.time) : Number(doc.time)) - t0
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

const runs = Number(process.argv[2] ?? 5)
const cold: Marks[] = []
const warm: Marks[] = []
const load0 = loadavg()[0]!
for (let i = 0; i < runs; i++) {
  const { dir, env } = await nodeFolder({ api: { http: { host: '127.0.0.1', port: 0 } }, p2p: { enabled: false } })
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
  for (const [k, v] of rows.sort((a, b) => a[1] - b[1])) console.log(`${String(Math.round(v)).padStart(6)}  ${k}`)
}
show('cold', cold)
show('restart', warm)
console.log(`\nload average 1 min: ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`)
