/**
 * `phase executors`: nodes that run jobs, found through the DHT (FindExecutors), each checked
 * through its signed capability record, least loaded first. What a `--remote` job could use.
 */
import { connect, type NodeOptions } from './connect.ts'
import { EXIT } from './exit.ts'
import { printable } from './terminal.ts'
import { UsageError, parse } from './usage.ts'

const OPTIONS = {
  json: { type: 'boolean' },
  runtime: { type: 'string' }, arch: { type: 'string' }, 'min-memory': { type: 'string' }, 'min-cores': { type: 'string' }, limit: { type: 'string' }
} as const

/** Most executors one call asks for (the node's own cap). */
const MAX_LIMIT = 200

function count (name: string, value: unknown, min: number, max: number): number {
  if (value === undefined) return 0
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) throw new UsageError(`--${name} wants an integer from ${min} to ${max}`)
  return Number(value)
}

export async function executorsCommand (argv: string[], env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS)
  if (positionals.length !== 0) throw new UsageError('executors takes no arguments (filters are options: --runtime, --arch, --min-memory, --min-cores)')
  const request = {
    runtime: (values.runtime as string | undefined) ?? '',
    arch: (values.arch as string | undefined) ?? '',
    minMemoryMb: count('min-memory', values['min-memory'], 0, 4_294_967_295),
    minCores: count('min-cores', values['min-cores'], 0, 4_294_967_295),
    limit: count('limit', values.limit, 1, MAX_LIMIT)
  }
  // The node's lookup has its own deadline (3 s) and then checks what it found.
  const client = connect(node, env, { timeoutMs: 20_000 })
  try {
    const res = await client.findExecutors(request)
    if (values.json === true) {
      process.stdout.write(JSON.stringify({
        executors: res.executors.map((e) => ({ peer_id: e.peerId, receipt_public_key: e.receiptPublicKey, runtimes: e.runtimes, arch: e.arch, cores: e.cores, max_memory_mb: e.maxMemoryMb, queue_depth: e.queueDepth })),
        lookup_ms: Math.round(res.lookupMs * 10) / 10
      }, null, 2) + '\n')
    } else if (res.executors.length === 0) {
      process.stdout.write(`no executor found (${Math.round(res.lookupMs)} ms)\n`)
    } else {
      // Everything but the numbers came from peers' records: escaped, so it cannot drive the terminal.
      for (const e of res.executors) {
        process.stdout.write(`${printable(e.peerId)}  ${printable(e.runtimes.join(',') || '-')}  ${printable(e.arch)}  ${e.cores} cores  ${e.maxMemoryMb} MiB  queue ${e.queueDepth}\n`)
      }
      process.stdout.write(`${res.executors.length} found in ${Math.round(res.lookupMs)} ms\n`)
    }
    return EXIT.OK
  } finally {
    client.close()
  }
}
