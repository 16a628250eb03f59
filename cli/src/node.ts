/** `phase node key`, `phase node info` and `phase peers`: who the local node is and whom it knows. */
import { connectRaw as connect } from './connect.ts'
import { EXIT } from './exit.ts'
import { UsageError, parse } from './usage.ts'

const OPTIONS = { api: { type: 'string' }, token: { type: 'string' } } as const

export async function nodeCommand (argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS)
  const sub = positionals[0]
  if (positionals.length !== 1 || (sub !== 'key' && sub !== 'info')) throw new UsageError("node wants 'key' or 'info'")
  const { client, metadata } = connect({ api: values.api as string | undefined, token: values.token as string | undefined }, env)
  try {
    const info = await client.getNodeInfo({}, { metadata, timeoutMs: 10_000 })
    if (sub === 'key') {
      process.stdout.write(`${info.receiptPublicKey}\n`)
    } else {
      process.stdout.write(JSON.stringify({
        peer_id: info.peerId,
        receipt_public_key: info.receiptPublicKey,
        version: info.version,
        executors: info.executors,
        runtime: { name: info.runtimeName, version: info.runtimeVersion },
        network: info.network === undefined
          ? null
          : { peers: info.network.peers, jobs_in: Number(info.network.jobsIn), jobs_refused: Number(info.network.jobsRefused), jobs_out: Number(info.network.jobsOut), jobs_out_failed: Number(info.network.jobsOutFailed), receipts_refused: Number(info.network.receiptsRefused) }
      }, null, 2) + '\n')
    }
    return EXIT.OK
  } finally {
    client.close()
  }
}

/** `phase peers`: the connected peers, their capabilities, latency and transport. */
export async function peersCommand (argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals } = parse(argv, { ...OPTIONS, json: { type: 'boolean' } })
  if (positionals.length !== 0) throw new UsageError('peers takes no arguments')
  const { client, metadata } = connect({ api: values.api as string | undefined, token: values.token as string | undefined }, env)
  try {
    const { peers } = await client.listPeers({}, { metadata, timeoutMs: 10_000 })
    if (values.json === true) {
      process.stdout.write(JSON.stringify(peers.map((p) => ({
        peer_id: p.peerId, transport: p.transport, latency_ms: p.latencyMs || null, runs_jobs: p.runsJobs,
        receipt_public_key: p.receiptPublicKey || null, runtimes: p.runtimes, successes: p.successes, failures: p.failures, addresses: p.addresses
      })), null, 2) + '\n')
    } else if (peers.length === 0) {
      process.stdout.write('no peers connected\n')
    } else {
      for (const p of peers) {
        const latency = p.latencyMs > 0 ? `${p.latencyMs.toFixed(1)} ms` : '-'
        process.stdout.write(`${p.peerId}  ${p.transport}  ${latency}  ${p.runsJobs ? 'runs jobs' : 'no jobs'}  ${p.runtimes.join(',') || '-'}  ok ${p.successes} / failed ${p.failures}\n`)
      }
    }
    return EXIT.OK
  } finally {
    client.close()
  }
}
