/** `phase node key | info | status` and `phase peers`: who the local node is, how it runs, whom it knows. */
import { nodeInfoJson, nodeStatusJson } from '@phase-network/sdk'
import { connect, type NodeOptions } from './connect.ts'
import { EXIT } from './exit.ts'
import { printable } from './terminal.ts'
import { UsageError, parse } from './usage.ts'

/** Deadline of one call to the node. */
const CALL_MS = 10_000

export async function nodeCommand (argv: string[], env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  if (argv[0] === 'scale') throw new UsageError("'phase node scale' is now 'plasmd scale' (it drives the node's own pm2, as the node's user)")
  if (argv[0] === 'status') return await statusCommand(argv.slice(1), env, node)
  const { positionals } = parse(argv, {})
  const sub = positionals[0]
  if (positionals.length !== 1 || (sub !== 'key' && sub !== 'info')) throw new UsageError("node wants 'key', 'info' or 'status'")
  const client = connect(node, env, { timeoutMs: CALL_MS })
  try {
    const info = await client.nodeInfo()
    if (sub === 'key') {
      process.stdout.write(`${info.receiptPublicKey}\n`)
    } else {
      // The same JSON as GET /v1/node.
      process.stdout.write(JSON.stringify(nodeInfoJson(info), null, 2) + '\n')
    }
    return EXIT.OK
  } finally {
    client.close()
  }
}

/** A peer's reputation as `phase peers --json` shows it (decayed evidence, rounded to 3 places). */
function reputationJson (r: { score: number, receiptsVerified: number, receiptsRefused: number, replicaDisagreements: number, failures: number, refusals: number } | undefined): Record<string, number> | null {
  if (r === undefined) return null
  const round = (n: number): number => Math.round(n * 1000) / 1000
  return { score: round(r.score), receipts_verified: round(r.receiptsVerified), receipts_refused: round(r.receiptsRefused), replica_disagreements: round(r.replicaDisagreements), failures: round(r.failures), refusals: round(r.refusals) }
}

/** `phase peers`: the connected peers, their capabilities, latency, transport and reputation. */
export async function peersCommand (argv: string[], env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } })
  if (positionals.length !== 0) throw new UsageError('peers takes no arguments')
  const client = connect(node, env, { timeoutMs: CALL_MS })
  try {
    const peers = await client.peers()
    if (values.json === true) {
      process.stdout.write(JSON.stringify(peers.map((p) => ({
        peer_id: p.peerId, transport: p.transport, latency_ms: p.latencyMs || null, runs_jobs: p.runsJobs,
        receipt_public_key: p.receiptPublicKey || null, runtimes: p.runtimes, successes: p.successes, failures: p.failures, addresses: p.addresses,
        agent_version: p.agentVersion || null,
        reputation: reputationJson(p.reputation)
      })), null, 2) + '\n')
    } else if (peers.length === 0) {
      process.stdout.write('no peers connected\n')
    } else {
      for (const p of peers) {
        const latency = p.latencyMs > 0 ? `${p.latencyMs.toFixed(1)} ms` : '-'
        // Everything here but the numbers came from the peer: escaped, so it cannot drive the terminal.
        const score = p.reputation === undefined ? '-' : p.reputation.score.toFixed(2)
        process.stdout.write(`${printable(p.peerId)}  ${printable(p.transport)}  ${latency}  ${p.runsJobs ? 'runs jobs' : 'no jobs'}  ${printable(p.runtimes.join(',') || '-')}  ok ${p.successes} / failed ${p.failures}  score ${score}  ${printable(p.agentVersion || '-')}\n`)
      }
    }
    return EXIT.OK
  } finally {
    client.close()
  }
}

/** `phase node status [--json]`: processes (pid, state, uptime, memory, load, restarts), versions, peers, queue. */
async function statusCommand (argv: string[], env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } })
  if (positionals.length !== 0) throw new UsageError('node status takes no arguments')
  const client = connect(node, env, { timeoutMs: CALL_MS })
  try {
    // The same JSON as GET /v1/status.
    const status = nodeStatusJson(await client.nodeStatus())
    if (values.json === true) {
      process.stdout.write(JSON.stringify(status, null, 2) + '\n')
      return EXIT.OK
    }
    const processes = status.processes as Array<Record<string, unknown>>
    const done = Object.entries(status.jobs_by_status as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet'
    const lines = [
      `node       ${String(status.peer_id)}`,
      `version    phase ${String(status.version)}, node ${String(processes[0]?.node_version ?? '?')}`,
      `peers      ${status.p2p_enabled === true ? String(status.peers) : 'p2p off'}`,
      `jobs       ${String(status.jobs_in_flight)} in flight, ${String(status.queue_depth)} queued; finished: ${done}`,
      '',
      'PROCESS       STATE  PID       UPTIME    RSS       RUNNING  QUEUED  DONE      RESTARTS'
    ]
    for (const p of processes) {
      const name = p.name === 'executor' ? `executor ${String(p.index)}` : String(p.name)
      const started = typeof p.started_at === 'string' ? Date.parse(p.started_at) : NaN
      const uptime = Number.isNaN(started) ? '-' : duration(Date.now() - started)
      const rss = typeof p.rss_bytes === 'number' ? `${(p.rss_bytes / 1024 / 1024).toFixed(0)} MiB` : '-'
      lines.push([name.padEnd(13), String(p.state).padEnd(6), String(p.pid ?? '-').padEnd(9), uptime.padEnd(9), rss.padEnd(9),
        String(p.running).padEnd(8), String(p.queued).padEnd(7), String(p.completed).padEnd(9), String(p.restarts ?? '-')].join(' '))
    }
    process.stdout.write(lines.join('\n') + '\n')
    return processes.every((p) => p.state === 'up') ? EXIT.OK : EXIT.UNAVAILABLE
  } finally {
    client.close()
  }
}

function duration (ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.floor(s / 60)}m`
  if (s < 172800) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86400)}d`
}
