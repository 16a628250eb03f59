/**
 * The 3-process shape with nothing of the node's own in it, measured end to end: a client's unary
 * call (or a message on a long-lived stream: `streamCall`, to compare with the node's
 * SubmitJobStream) to a front process, which sends one message on a long-lived stream to an executor process
 * (a worker thread instantiates and runs the module) and one to a signer process (an Ed25519
 * signature), then answers — the local job path's hops, transports and processes, started with
 * the node's V8 flags and malloc settings (shape-chain-proc.ts). Its p50 and p99 are the floor
 * of a warm local job's; the gap between them is the processes' own pauses (GC, scheduling).
 */
import * as grpc from '@grpc/grpc-js'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EXECUTOR_NODE_ARGS, V8_FLAGS } from '../ops/compile-cache.ts'
import { MALLOC_ENV } from '../ops/malloc.ts'
import { timeSeq } from './stats.ts'
import { idStream, passthrough, type IdStream } from './id-stream.ts'


export interface ShapeChain {
  /** One job end to end as a unary call: the module's output and its signature. */
  call: () => Promise<Buffer>
  /** The same job as a message on one long-lived stream (as PhaseClient sends jobs to the node). */
  streamCall: () => Promise<Buffer>
  /** The three processes' pids, by role: front, exec, sign. */
  pids: Array<[string, number]>
  stop: () => Promise<void>
}

/** The guarded shape's signing key (a bench key from a fixed seed) and the PeerId its receipts name. */
export const GUARDED_SEED = new Uint8Array(32).fill(7)
export const GUARDED_PEER_ID = '12D3KooWGzh6Jm8xGzN2jQhL8RkdbFJ1HE1nZHD1mS8o8uZGw4eD'

interface ShapeProcesses {
  sock: (name: string) => string
  dir: string
  client: grpc.Client
  pids: Array<[string, number]>
  /** Starts one process of shape-chain-proc.ts and waits for its "ready". */
  start: (args: readonly string[]) => Promise<void>
  stop: (stream?: IdStream) => Promise<void>
}

/** A directory for the sockets, the client to the front, and the processes' start and stop. */
async function shapeProcesses (): Promise<ShapeProcesses> {
  const dir = await mkdtemp(join(tmpdir(), 'phase-chain-'))
  const sock = (name: string): string => `unix:${join(dir, `${name}.sock`)}`
  const children: ChildProcess[] = []
  const pids: Array<[string, number]> = []
  const start = async (args: readonly string[]): Promise<void> => {
    const child = spawn(process.execPath, [...args], { env: { ...process.env, ...MALLOC_ENV }, stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
    pids.push([args[args.indexOf(SCRIPT) + 1]!, child.pid!])
    // Ready, or a clear failure: it exits, cannot be spawned, or says nothing within the bound.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`shape process ${args.join(' ')} not ready within ${READY_MS} ms`)) }, READY_MS)
      child.stdout!.once('data', () => { clearTimeout(timer); resolve() })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`shape process exited with ${code}`)) })
      child.once('error', (err) => { clearTimeout(timer); reject(err) })
    })
  }
  const client = new grpc.Client(sock('front'), grpc.credentials.createInsecure())
  const stop = async (stream?: IdStream): Promise<void> => {
    stream?.end()
    client.close()
    await Promise.all(children.reverse().map(async (c) => {
      c.removeAllListeners('exit')
      if (c.exitCode !== null || c.signalCode !== null) return
      await new Promise((resolve) => { c.once('exit', resolve); c.kill('SIGTERM') })
    }))
    await rm(dir, { recursive: true, force: true })
  }
  return { sock, dir, client, pids, start, stop }
}

const SCRIPT = new URL('./shape-chain-proc.ts', import.meta.url).pathname
/** How long a shape process may take to say "ready" (a few hundred ms when the host is quiet). */
const READY_MS = 30_000

/** The bare shape's three processes, started and checked (its first answer is the module's output). */
export async function startShapeChain (modulePath: string): Promise<ShapeChain> {
  const { sock, client, pids, start, stop: stopAll } = await shapeProcesses()
  let stream: IdStream | undefined
  const stop = async (): Promise<void> => await stopAll(stream)
  try {
    await start([...EXECUTOR_NODE_ARGS, SCRIPT, 'exec', sock('exec'), modulePath])
    await start([...V8_FLAGS, SCRIPT, 'sign', sock('sign')])
    await start([...V8_FLAGS, SCRIPT, 'front', sock('front'), sock('exec'), sock('sign')])
    const payload = Buffer.from('Hello, World')
    const call = async (): Promise<Buffer> => await new Promise((resolve, reject) => {
      client.makeUnaryRequest('/bench.Chain/Submit', passthrough, passthrough, payload, (e, out) => e != null ? reject(e) : resolve(out!))
    })
    // Messages carry a 4-byte call id, as on the chain's inner streams and the node's.
    const s = idStream(client)
    stream = s
    const streamCall = async (): Promise<Buffer> => await s.call(payload)
    // A floor that skipped the work would flatter the node: the answer must be the module's
    // output followed by a 64-byte signature, on both faces.
    for (const answer of [await call(), await streamCall()]) {
      const output = answer.subarray(0, -64).toString()
      if (answer.length <= 64 || !output.includes('dlroW ,olleH')) throw new Error(`the bare shape answered ${JSON.stringify(output)}: not the module's output`)
    }
    return { call, streamCall, pids, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export interface GuardedChain {
  /** One job on the front's stream: a fresh manifest out; stdout and the signed receipt back. */
  streamCall: () => Promise<Buffer>
  /** The three processes' pids, by role: exec, gsign, gfront. */
  pids: Array<[string, number]>
  stop: () => Promise<void>
}

/**
 * The bare shape doing, in plain code, the per-job work discovery's and the signer's guarantees
 * need (shape-chain-proc.ts gfront and gsign: the manifest's schema check, job id and replay
 * check, the receipt built, schema-checked, canonicalized, signed and logged), the executor as
 * bare (its own caps and CPU accounting are not in it): what those guarantees cost on this
 * shape, apart from how the node is built — a lower bound. `manifest` gives
 * each job's manifest JSON (a fresh nonce each time: the front refuses a replay). Its first
 * answer is checked: the module's output, and a receipt that verifies over it.
 */
export async function startGuardedChain (modulePath: string, manifest: () => Uint8Array): Promise<GuardedChain> {
  const { sock, client, pids, dir, start, stop: stopAll } = await shapeProcesses()
  let stream: IdStream | undefined
  const stop = async (): Promise<void> => await stopAll(stream)
  try {
    await start([...EXECUTOR_NODE_ARGS, SCRIPT, 'exec', sock('exec'), modulePath])
    await start([...V8_FLAGS, SCRIPT, 'gsign', sock('sign'), dir])
    await start([...V8_FLAGS, SCRIPT, 'gfront', sock('front'), sock('exec'), sock('sign')])
    const s = idStream(client)
    stream = s
    const streamCall = async (): Promise<Buffer> => await s.call(Buffer.from(manifest()))
    // The first answer: the module's output, and a receipt over it and over this very job (its
    // id, nonce, module and inputs as the node's would name them), signed by the shape's key.
    const [{ verifyReceiptNode }, { createReceiptSigner }, { parseManifest, canonicalBytes, inputsHashOf }, { contentHash }] = await Promise.all([
      import('../services/core/protocol/src/crypto/verify-node.ts'),
      import('../services/core/protocol/src/crypto/sign.ts'),
      import('../services/core/protocol/src/index.ts'),
      import('../services/core/protocol/src/hash-node.ts')
    ])
    const first = manifest()
    const answer = await s.call(Buffer.from(first))
    const stdout = answer.subarray(4, 4 + answer.readUInt32BE(0))
    if (!stdout.toString().includes('dlroW ,olleH')) throw new Error(`the guarded shape answered ${JSON.stringify(stdout.toString())}: not the module's output`)
    const m = parseManifest(first)
    verifyReceiptNode(answer.subarray(4 + stdout.byteLength), {
      publicKey: createReceiptSigner(GUARDED_SEED).publicKey,
      peerId: GUARDED_PEER_ID,
      job: { jobId: contentHash(canonicalBytes(m)), nonce: m.nonce, moduleHash: m.module_hash, inputsHash: inputsHashOf(m, contentHash) },
      outputs: { stdout, stderr: new Uint8Array() }
    })
    return { streamCall, pids, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** ms per call, sequential (after 300 warm-up calls). */
export async function shapeChain (modulePath: string, n: number): Promise<number[]> {
  const chain = await startShapeChain(modulePath)
  try {
    return await timeSeq(n, 300, async () => { await chain.call() })
  } finally {
    await chain.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { median, percentile, fmtMs } = await import('./stats.ts')
  const seq = await shapeChain(join(new URL('../', import.meta.url).pathname, 'examples/hello/hello.wasm'), Number(process.argv[2] ?? 2000))
  process.stdout.write(`bare shape run end to end: p50 ${fmtMs(median(seq))} p99 ${fmtMs(percentile(seq, 99))}\n`)
}
