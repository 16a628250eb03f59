/**
 * Discovery's start with p2p on (issue 11, start-up): the public API opens, and local jobs are
 * served, while libp2p is still loading and starting; what needs the network answers UNAVAILABLE
 * until the host runs, and 'discovery ready' (with the p2p addresses) still comes once everything
 * runs. The host's start is held for as long as the test wants by a real file: the node's
 * reputation file (read at the start of the host's start) made a named pipe, whose read waits
 * for a writer.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { REPUTATION_FILE } from '../../services/discovery/src/p2p/reputation-file.ts'
import { startTestNode, ROOT, NODE, type TestNode } from '../helpers/node-harness.ts'

const DEADLINE_MS = 60_000

describe('discovery start order', () => {
  let node: TestNode
  let discovery: ChildProcess | undefined
  const lines: string[] = []
  let client: GrpcClient<typeof NodeService> | undefined

  beforeAll(async () => {
    node = await startTestNode({ executors: 1 })
    // The harness's discovery (p2p off) makes way for one with p2p on, on loopback only.
    await node.stopProcess('discovery')
    const config = JSON.parse(await readFile(node.env.PHASE_CONFIG!, 'utf8')) as Record<string, unknown>
    config.p2p = { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [] }
    await writeFile(node.env.PHASE_CONFIG!, JSON.stringify(config), { mode: 0o600 })
    const fifo = spawnSync('mkfifo', ['-m', '600', join(node.dir, 'state', REPUTATION_FILE)])
    expect(fifo.status).toBe(0)
  }, DEADLINE_MS * 2)

  afterAll(async () => {
    client?.close()
    if (discovery !== undefined && discovery.exitCode === null && discovery.signalCode === null) {
      const exited = once(discovery, 'exit')
      discovery.kill('SIGTERM')
      await exited
    }
    await node?.stop()
  }, DEADLINE_MS)

  /** Resolves with the first log line of discovery whose msg is `msg`. */
  const line = async (msg: string): Promise<Record<string, unknown>> => await new Promise((resolve, reject) => {
    const look = (): boolean => {
      for (const l of lines) {
        try { const doc = JSON.parse(l) as Record<string, unknown>; if (doc.msg === msg) { resolve(doc); return true } } catch {}
      }
      return false
    }
    if (look()) return
    const timer = setInterval(() => { if (look()) clearInterval(timer) }, 20)
    setTimeout(() => { clearInterval(timer); reject(new Error(`no '${msg}' from discovery:\n${lines.join('\n')}`)) }, DEADLINE_MS).unref()
  })

  it('serves a local job while p2p is still starting, and refuses what needs the network as unavailable', async () => {
    discovery = spawn(NODE, [join(ROOT, 'services/discovery/src/main.ts')], { env: node.env, stdio: ['ignore', 'pipe', 'pipe'] })
    createInterface({ input: discovery.stdout! }).on('line', (l) => lines.push(l))
    createInterface({ input: discovery.stderr! }).on('line', (l) => lines.push(l))
    const serving = await line('discovery serving local jobs (p2p starting)')
    client = createGrpcClient(NodeService, String(serving.grpc))
    const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
    const manifestJson = new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
    // The executor may still be connecting: a client tries again, as it would after any UNAVAILABLE.
    let res: Awaited<ReturnType<typeof client.submitJob>> | undefined
    for (let i = 0; res === undefined; i++) {
      try { res = await client.submitJob({ manifestJson, module: hello }) } catch (err) {
        if (i > 500 || (err as { code?: string }).code !== 'unavailable') throw err
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    expect(res.status).toBe('ok')
    expect(new TextDecoder().decode(res.stdout)).toBe('dlroW ,olleH\n')
    const info = await client.getNodeInfo({})
    const { receipt } = await verifyReceiptNode(res.receiptJson, { publicKey: info.receiptPublicKey })
    expect(receipt.status).toBe('ok')
    await expect(client.listPeers({})).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining('p2p is starting') })
    // Still held: the host has not started.
    expect(lines.some((l) => l.includes('"p2p host listening"') || l.includes('"discovery ready"'))).toBe(false)
  }, DEADLINE_MS * 2)

  it('says discovery ready with its p2p addresses once the host runs, and then answers for the network', async () => {
    // Lets the held read end: an empty file, ignored as unreadable, as any bad reputation file is.
    const writer = createWriteStream(join(node.dir, 'state', REPUTATION_FILE))
    writer.end()
    await once(writer, 'close')
    const ready = await line('discovery ready')
    expect(ready.p2p).toEqual([expect.stringMatching(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)])
    expect(await client!.listPeers({})).toMatchObject({ peers: [] })
  }, DEADLINE_MS * 2)
})
