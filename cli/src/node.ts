/** `phase node key` and `phase node info`: who the local node is. */
import { connect } from './connect.ts'
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
        runtime: { name: info.runtimeName, version: info.runtimeVersion }
      }, null, 2) + '\n')
    }
    return EXIT.OK
  } finally {
    client.close()
  }
}
