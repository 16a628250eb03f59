/**
 * One process of the bare 3-process shape (bench/shape-chain.ts): what discovery, an executor and
 * the signer would be with nothing of this project's job logic in them. Roles:
 *   front <address> <exec address> <sign address>: unary Submit, and the same as messages on a
 *     bidi stream; per job one message to the executor's stream, then one to the signer's, then
 *     the answer (the node's local job path);
 *   exec <address> <module.wasm>: a long-lived bidi stream; each message is run in a worker
 *     thread (instantiate + run of the module, compiled once) and answered with its stdout;
 *   sign <address>: a long-lived bidi stream; each message is answered with its Ed25519 signature.
 * The same shape doing the work discovery's and the signer's guarantees need, in plain code
 * (shape-chain.ts startGuardedChain: what they cost on this shape, apart from how the node is
 * built):
 *   gfront <address> <exec address> <sign address>: a stream of manifests (JSON bytes): each is
 *     parsed and schema-checked (parseManifest), its job id taken (JCS + SHA-256) and checked
 *     against the ids seen (a bounded set), its inputs hash taken; one message to exec (the
 *     args, then the job id), the unsigned receipt built from the answer (stdout and stderr
 *     hashes) and sent to the signer as JSON; the answer is stdout's length, stdout, the receipt;
 *   gsign <address> <dir>: each message is an unsigned receipt (JSON bytes): parsed, checked
 *     and signed by the protocol's receipt signer (schema, its own key, JCS, Ed25519), refused
 *     if its job id was signed before, a log line (the receipt log's entry, chained by the hash
 *     of the line before) written with writeSync to <dir> before the answer (fdatasync on the
 *     thread pool every 100 ms, the signer's default; no signed heads, no segment rotation);
 *     answered with the receipt's bytes.
 *   The executor stays the bare one: the executor's own guarantees (memory, time and output
 *   caps, CPU time, stderr) are not in this shape, only discovery's and the signer's.
 *   Both derive the signer's key from GUARDED_SEED (the front names it in each receipt).
 * Messages on the streams carry a 4-byte call id, as the node's multiplexed streams do (rpc/mux.ts).
 * Prints "ready" when serving; exits on SIGTERM.
 */
import * as grpc from '@grpc/grpc-js'
import { generateKeyPairSync, sign } from 'node:crypto'
import { fdatasync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { CHAIN_STREAM_PATH, idStream, passthrough } from './id-stream.ts'

const method = (path: string, stream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({ path, requestStream: stream, responseStream: stream, requestSerialize: passthrough, requestDeserialize: passthrough, responseSerialize: passthrough, responseDeserialize: passthrough })
const SUBMIT = method('/bench.Chain/Submit', false)
const STREAM = method(CHAIN_STREAM_PATH, true)
const [role, address, ...rest] = process.argv.slice(2)
const server = new grpc.Server()

/** A bidi stream server answering each id-prefixed message with `answer(payload)`. */
function streamServer (answer: (payload: Buffer, reply: (out: Buffer) => void) => void): void {
  server.addService({ stream: STREAM }, {
    stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (msg: Buffer) => {
        const id = msg.subarray(0, 4)
        answer(msg.subarray(4), (out) => call.write(Buffer.concat([id, out])))
      })
      call.on('end', () => call.end())
    }
  })
}

/** The client side of such a stream (id-stream.ts): one call is one message, answered by id. */
function streamClient (target: string): (payload: Buffer) => Promise<Buffer> {
  return idStream(new grpc.Client(target, grpc.credentials.createInsecure())).call
}

if (role === 'front') {
  const exec = streamClient(rest[0]!)
  const signer = streamClient(rest[1]!)
  const job = async (request: Buffer): Promise<Buffer> => {
    const out = await exec(request)
    const signature = await signer(Buffer.concat([out, request]))
    return Buffer.concat([out, signature])
  }
  server.addService({ submit: SUBMIT }, {
    submit: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      void job(call.request).then((answer) => cb(null, answer))
    }
  })
  // The same job as messages on one long-lived stream (as the node's SubmitJobStream).
  streamServer((payload, reply) => { void job(payload).then(reply) })
} else if (role === 'exec') {
  const worker = new Worker(new URL('./shape-chain-worker.ts', import.meta.url), { workerData: readFileSync(rest[0]!) })
  // One job at a time in the worker, as an executor's pool of one: the reply of the one running.
  let running: ((out: Buffer) => void) | undefined
  const waiting: Array<[Buffer, (out: Buffer) => void]> = []
  const dispatch = (): void => {
    if (running !== undefined || waiting.length === 0) return
    const [payload, reply] = waiting.shift()!
    running = reply
    worker.postMessage(payload)
  }
  worker.on('message', (out: Uint8Array) => {
    const reply = running!
    running = undefined
    reply(Buffer.from(out.buffer, out.byteOffset, out.byteLength))
    dispatch()
  })
  streamServer((payload, reply) => { waiting.push([payload, reply]); dispatch() })
} else if (role === 'sign') {
  const { privateKey } = generateKeyPairSync('ed25519')
  streamServer((payload, reply) => reply(sign(null, payload, privateKey)))
} else if (role === 'gfront' || role === 'gsign') {
  await guarded(role)
} else {
  throw new Error(`unknown role ${role}`)
}
server.bindAsync(address!, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err != null) { process.stderr.write(`${err.message}\n`); process.exit(1) }
  process.stdout.write('ready\n')
})
process.on('SIGTERM', () => { server.forceShutdown(); process.exit(0) })

/** The guarded roles; the protocol's code is loaded only by them (the bare roles stay bare). */
async function guarded (which: 'gfront' | 'gsign'): Promise<void> {
  const [{ GUARDED_SEED, GUARDED_PEER_ID }, { parseManifest, canonicalBytes, inputsHashOf }, { contentHash }, { createReceiptSigner }, { encodeReceiptEntry, entryHash, receiptHash, GENESIS_PREV }] = await Promise.all([
    import('./shape-chain.ts'),
    import('../services/core/protocol/src/index.ts'),
    import('../services/core/protocol/src/hash-node.ts'),
    import('../services/core/protocol/src/crypto/sign.ts'),
    import('../services/core/protocol/src/receipt-log/format.ts')
  ])
  const signer = createReceiptSigner(GUARDED_SEED)
  if (which === 'gfront') {
    const exec = streamClient(rest[0]!)
    const sign = streamClient(rest[1]!)
    const seen = new Set<string>()
    const empty = new Uint8Array()
    const job = async (payload: Buffer): Promise<Buffer> => {
      const manifest = parseManifest(payload)
      const jobId = contentHash(canonicalBytes(manifest))
      if (seen.has(jobId)) throw new Error(`job ${jobId} replayed`)
      seen.add(jobId)
      if (seen.size > 100_000) seen.delete(seen.values().next().value!)
      const startedAt = new Date().toISOString()
      const stdout = await exec(Buffer.from(`${(manifest.args ?? []).join(' ')}${jobId}`))
      const unsigned = {
        version: 1,
        job_id: jobId,
        nonce: manifest.nonce,
        module_hash: manifest.module_hash,
        inputs_hash: inputsHashOf(manifest, contentHash),
        stdout_hash: contentHash(stdout),
        stdout_bytes: stdout.byteLength,
        stderr_hash: contentHash(empty),
        stderr_bytes: 0,
        status: 'ok',
        exit_code: 0,
        limits: { memory_bytes: 64 << 20, timeout_ms: 5000, output_bytes: 1 << 20 },
        wall_time_us: 300,
        cpu_time_us: 250,
        started_at: startedAt,
        finished_at: new Date().toISOString(),
        node: { peer_id: GUARDED_PEER_ID, public_key: signer.publicKey },
        runtime: { name: 'v8', version: process.versions.v8 }
      }
      const receipt = await sign(Buffer.from(JSON.stringify(unsigned)))
      const length = Buffer.alloc(4)
      length.writeUInt32BE(stdout.byteLength)
      return Buffer.concat([length, stdout, receipt])
    }
    streamServer((payload, reply) => { void job(payload).then(reply) })
  } else {
    const fd = openSync(join(rest[0]!, 'receipts.log'), 'a')
    // As the signer's log (receipt-log/writer.ts): fdatasync on the thread pool every 100 ms when
    // something was written since the last, one at a time.
    let unsynced = false
    let syncing = false
    setInterval(() => {
      if (!unsynced || syncing) return
      unsynced = false
      syncing = true
      fdatasync(fd, (err) => { syncing = false; if (err !== null) throw err })
    }, 100).unref()
    const decoder = new TextDecoder('utf-8', { fatal: true })
    // The log's index of job ids (the signer's refusal to sign two receipts for one id), bounded.
    const index = new Map<string, string>()
    let seq = 0
    let prev = GENESIS_PREV
    streamServer((payload, reply) => {
      const { receipt, canonical } = signer.sign(JSON.parse(decoder.decode(payload)))
      const hash = receiptHash(canonical)
      if (index.has(receipt.job_id)) throw new Error(`job ${receipt.job_id} signed twice`)
      index.set(receipt.job_id, hash)
      if (index.size > 100_000) index.delete(index.keys().next().value!)
      const entry = encodeReceiptEntry({ type: 'receipt', seq: seq++, prev, job_id: receipt.job_id, receipt: Buffer.from(canonical).toString('utf8') })
      const line = Buffer.allocUnsafe(entry.byteLength + 1)
      line.set(entry)
      line[entry.byteLength] = 0x0a
      writeSync(fd, line)
      unsynced = true
      // The log is a hash chain over its lines, as the signer's.
      prev = entryHash(entry)
      reply(Buffer.from(canonical.buffer, canonical.byteOffset, canonical.byteLength))
    })
  }
}
