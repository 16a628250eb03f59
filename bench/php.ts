/**
 * The PHP path (issue 11): `php examples/local_test.php` end to end against a running node — PHP
 * start, the SDK, GET /v1/node, the hello job over HTTP, the receipt check — the median of N runs,
 * beside a bare `php -r ''` start measured in the same run and the founding system's published
 * ~68 ms for the same hello job. The node is the test harness's (signer, 2 executors, discovery;
 * HTTP on loopback), reached over TCP as `PHASE_HTTP=http://127.0.0.1:<port>` and over its unix socket.
 *
 *   node --no-liftoff bench/php.ts [--quick]
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { startTestNode, ROOT } from '../test/helpers/node-harness.ts'
import { median, percentile, printTable, fmtMs, type Row } from './stats.ts'

const FOUNDING_MS = 68

function timePhp (args: string[], env: Record<string, string>, expect?: string): number {
  const t = performance.now()
  const r = spawnSync('php', args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' })
  const ms = performance.now() - t
  if (r.error !== undefined) throw r.error
  if (r.status !== 0 || (expect !== undefined && !r.stdout.includes(expect))) throw new Error(`php ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`)
  return ms
}

export async function phpRows (quick: boolean): Promise<Row[]> {
  const runs = quick ? 20 : 100
  const bare = Array.from({ length: runs }, () => timePhp(['-r', ''], {}))
  const node = await startTestNode({ executors: 2 })
  try {
    const script = join('examples', 'local_test.php')
    const run = (address: string): number[] => {
      const env = { PHASE_HTTP: address }
      for (let i = 0; i < 3; i++) timePhp([script], env, 'Receipt verified ✓')
      return Array.from({ length: runs }, () => timePhp([script], env, 'Receipt verified ✓'))
    }
    const tcp = run(`http://${node.http}`)
    const unix = run(join(node.dir, 'run', 'plasmd-http.sock'))
    const floor = median(bare)
    const row = (metric: string, s: number[]): Row => ({
      metric, value: `${fmtMs(median(s))} (p90 ${fmtMs(percentile(s, 90))})`, floor: `php -r '' ${fmtMs(floor)}`,
      ratio: `${(median(s) / floor).toFixed(1)}× / ${(median(s) / FOUNDING_MS).toFixed(2)}× of ${FOUNDING_MS} ms`, target: `≤ ${FOUNDING_MS} ms (founding)`
    })
    return [
      row(`php examples/local_test.php end to end, TCP (median of ${runs})`, tcp),
      row(`php examples/local_test.php end to end, unix socket (median of ${runs})`, unix),
      { metric: '  of which the bare PHP start', value: fmtMs(floor), floor: '', ratio: '', target: '' }
    ]
  } finally {
    await node.stop()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await phpRows(process.argv.includes('--quick')))
}
