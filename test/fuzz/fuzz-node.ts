/**
 * A real node for the entry-point fuzz tests (signer, one executor, discovery with libp2p on
 * loopback), the hello module cached in it, and the checks every fuzz test ends with: the same
 * processes alive (pids unchanged), discovery's RSS back within 20% of where it started (both
 * read after a full garbage collection: see collectGarbage).
 */
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { ERROR_TABLE } from '../../services/core/protocol/src/errors.ts'
import { ROOT, startTestNode, type TestNode } from '../helpers/node-harness.ts'
import { memoryOf, mib, settle, type Memory } from '../helpers/proc-memory.ts'
import { figure } from '../helpers/figures.ts'

export const HELLO = await readFile(`${ROOT}/examples/hello/hello.wasm`)
export const HELLO_HASH = contentHash(HELLO)

/** Loopback libp2p, limits high enough that the fuzzer reaches the parsers (not the rate limits). */
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000, per_peer_concurrency: 64, per_peer_jobs_per_second: 100_000 }

export interface FuzzNode {
  node: TestNode
  pids: Map<string, number>
  /** Discovery's memory after warm-up. */
  before: Memory
  /** Discovery's JS heap in use after warm-up (MiB, from its Prometheus metrics). */
  heapBefore: number
  /** A fresh valid v1 manifest of the hello module. */
  manifest: () => Record<string, unknown>
  /** Discovery's inspector, opened on first use (see collectGarbage). */
  inspector?: Promise<WebSocket>
}

export async function startFuzzNode (): Promise<FuzzNode> {
  // The inspector port a SIGUSR1 opens: any free one on loopback (collectGarbage uses it).
  const node = await startTestNode({ executors: 1, env: { NODE_OPTIONS: '--inspect-port=127.0.0.1:0' }, config: { p2p: P2P, limits: { max_module_bytes: 1 << 20, max_stdin_bytes: 1 << 16, max_timeout_ms: 2000, default_timeout_ms: 1000 } } })
  const client = createGrpcClient(NodeService, node.grpc)
  try {
    await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(freshManifest())), module: HELLO })
  } finally {
    client.close()
  }
  const pids = new Map([...node.procs].map(([name, p]) => [name, p.child.pid!]))
  const f: FuzzNode = { node, pids, before: { rss: NaN, pss: NaN, pssAnon: NaN, pssFile: NaN }, heapBefore: NaN, manifest: freshManifest }
  await rebase(f)
  return f
}

function freshManifest (): Record<string, unknown> {
  return { version: 1, module_hash: HELLO_HASH, nonce: randomBytes(16).toString('hex'), args: ['fuzz'] }
}

/** Re-reads the baseline after the test's own warm-up (first JIT and buffer growth are not leaks). */
export async function rebase (f: FuzzNode): Promise<void> {
  await collectGarbage(f)
  f.before = memoryOf(f.pids.get('discovery')!)!
  f.heapBefore = await heapUsed(f.node)
}

/**
 * Discovery's JS heap in use (MiB), from `nodejs_heap_size_used_bytes` on its metrics endpoint:
 * beside RSS it tells a leak (live objects grow) from V8 keeping a larger heap for a while.
 */
export async function heapUsed (node: TestNode): Promise<number> {
  const text = await (await fetch(`http://${node.http}/metrics`)).text()
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20
}

/**
 * A full, memory-reducing garbage collection in discovery (what a heap snapshot does first),
 * through the inspector that SIGUSR1 opens on the port `--inspect-port=127.0.0.1:0` picked.
 * RSS read right after a run counts garbage V8 has not collected yet and a young generation it
 * grew under load (measured: 64 → 128 MiB of new space, RSS ×1.58 after 4× the CI inputs, with
 * the JS heap in use after a full GC unchanged at 31.5 → 32.1 MiB over 4,000 jobs): a leak is
 * what stays after this. Both readings, before and after, are taken after one.
 */
export async function collectGarbage (f: FuzzNode): Promise<void> {
  f.inspector ??= openInspector(f)
  const ws = await f.inspector
  const id = Math.floor(Math.random() * 2 ** 31)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('discovery did not answer HeapProfiler.collectGarbage in 30 s')), 30_000)
    const onMessage = (e: MessageEvent): void => {
      if ((JSON.parse(String(e.data)) as { id?: number }).id !== id) return
      ws.removeEventListener('message', onMessage)
      clearTimeout(timer)
      resolve()
    }
    ws.addEventListener('message', onMessage)
    ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }))
  })
  // Freed pages leave RSS as V8 releases them, shortly after the collection.
  await new Promise((resolve) => setTimeout(resolve, 300))
}

async function openInspector (f: FuzzNode): Promise<WebSocket> {
  const proc = f.node.procs.get('discovery')!
  const url = (): string | undefined => proc.lines.map((l) => /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(l)?.[1]).find((u) => u !== undefined)
  process.kill(f.pids.get('discovery')!, 'SIGUSR1')
  const deadline = Date.now() + 10_000
  while (url() === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  if (url() === undefined) throw new Error(`discovery opened no inspector:\n${proc.lines.slice(-5).join('\n')}`)
  const ws = new WebSocket(url()!)
  await new Promise((resolve, reject) => { ws.addEventListener('open', resolve, { once: true }); ws.addEventListener('error', reject, { once: true }) })
  return ws
}

/** Every process still running with the pid it started with. */
export function deadProcesses (f: FuzzNode): string[] {
  const dead: string[] = []
  for (const [name, pid] of f.pids) {
    const proc = f.node.procs.get(name)
    if (proc === undefined || proc.child.pid !== pid || proc.child.exitCode !== null || proc.child.signalCode !== null) dead.push(name)
  }
  return dead
}

/** Discovery's RSS after the run (waiting for it to come back under 1.2 × before) and the figures. */
export async function memoryAfter (f: FuzzNode, entry: string): Promise<{ after: Memory, ratio: number }> {
  // Measured as the baseline was: after a full collection.
  await collectGarbage(f)
  const after = (await settle(f.pids.get('discovery')!, f.before.rss * 1.2))!
  const ratio = after.rss / f.before.rss
  const heap = await heapUsed(f.node)
  figure('bad input', `${entry}: discovery RSS before → after`, `${mib(f.before.rss)} → ${mib(after.rss)}`, `MiB (×${ratio.toFixed(2)}; PSS ${mib(f.before.pss)} → ${mib(after.pss)}; JS heap used ${mib(f.heapBefore)} → ${mib(heap)})`)
  return { after, ratio }
}

/** True when `code` is one of the node's error codes. */
export function isErrorCode (code: unknown): boolean {
  return typeof code === 'string' && code in ERROR_TABLE
}

/** Tallies outcomes for the table: by HTTP status / gRPC code / error code. */
export class Tally {
  readonly counts = new Map<string, number>()
  total = 0
  add (key: string): void { this.total++; this.counts.set(key, (this.counts.get(key) ?? 0) + 1) }
  summary (): string { return [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') }
}

/**
 * The template's nonce in a mutated body replaced by a fresh one, so that mutations which keep
 * a manifest valid run a new job instead of all meeting `replayed_job`.
 */
export function freshNonce (bytes: Uint8Array, template: string, fresh: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1')
  return text.includes(template) ? Buffer.from(text.replaceAll(template, fresh), 'latin1') : bytes
}
