/**
 * A real node for the entry-point fuzz tests (signer, one executor, discovery with libp2p on
 * loopback), the hello module cached in it, and the checks every fuzz test ends with: the same
 * processes alive (pids unchanged), discovery's RSS back within 20% of where it started (both
 * read with V8's young generation resident: see warmYoungGeneration).
 */
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/src/grpc/index.ts'
import { contentHash } from '../../services/core/src/hash-node.ts'
import { ERROR_TABLE } from '../../services/core/src/errors.ts'
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
}

export async function startFuzzNode (): Promise<FuzzNode> {
  const node = await startTestNode({ executors: 1, config: { p2p: P2P, limits: { max_module_bytes: 1 << 20, max_stdin_bytes: 1 << 16, max_timeout_ms: 2000, default_timeout_ms: 1000 } } })
  const client = createGrpcClient(NodeService, node.grpc)
  try {
    await client.submitJob({ manifestJson: new TextEncoder().encode(JSON.stringify(freshManifest())), module: HELLO })
  } finally {
    client.close()
  }
  const pids = new Map([...node.procs].map(([name, p]) => [name, p.child.pid!]))
  await warmYoungGeneration(node)
  return { node, pids, before: memoryOf(pids.get('discovery')!)!, heapBefore: await heapUsed(node), manifest: freshManifest }
}

function freshManifest (): Record<string, unknown> {
  return { version: 1, module_hash: HELLO_HASH, nonce: randomBytes(16).toString('hex'), args: ['fuzz'] }
}

/** Re-reads the baseline after the test's own warm-up (first JIT and buffer growth are not leaks). */
export async function rebase (f: FuzzNode): Promise<void> {
  await warmYoungGeneration(f.node)
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
 * Brings discovery's V8 young generation to where any traffic leaves it, so that RSS before and
 * after compare like with like. V8 commits the new space early (64 MiB on this Node at startup)
 * but its pages become resident only as allocation sweeps them: the first ~100 MiB of traffic
 * after a start adds ~27 MiB of RSS (measured: 166.7 → 193.4 MiB from 179 GET /metrics and
 * nothing else), which V8 keeps, leak or not. Three scavenges fill both semi-spaces, after which
 * RSS follows what is really kept. Driven with GET /metrics (which also counts the scavenges in
 * `nodejs_gc_duration_seconds_count{kind="minor"}`); bounded by `maxRequests`.
 */
export async function warmYoungGeneration (node: TestNode, scavenges = 3, maxRequests = 5000): Promise<number> {
  const minor = async (): Promise<number> => {
    const text = await (await fetch(`http://${node.http}/metrics`)).text()
    return Number(/^nodejs_gc_duration_seconds_count\{kind="minor"\} (\S+)/m.exec(text)?.[1] ?? 0)
  }
  const start = await minor()
  let requests = 1
  while (await minor() < start + scavenges && requests < maxRequests) requests++
  return requests
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
  // Measured as the baseline was: after the same scavenges (the run itself may have ended mid-cycle).
  await warmYoungGeneration(f.node)
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
