/**
 * One process of the bare 3-process shape (bench/shape-chain.ts): what discovery, an executor and
 * the signer would be with nothing of this project's job logic in them. Roles:
 *   front <address> <exec address> <sign address>: unary Submit, and the same as messages on a
 *     bidi stream; per job one message to the executor's stream, then one to the signer's, then
 *     the answer (the node's local job path);
 *   exec <address> <module.wasm>: a long-lived bidi stream; each message is run in a worker
 *     thread (instantiate + run of the module, compiled once) and answered with its stdout;
 *   sign <address>: a long-lived bidi stream; each message is answered with its Ed25519 signature.
 * Messages on the streams carry a 4-byte call id, as the node's multiplexed streams do (rpc/mux.ts).
 * Prints "ready" when serving; exits on SIGTERM.
 */
import * as grpc from '@grpc/grpc-js'
import { generateKeyPairSync, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
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
} else {
  throw new Error(`unknown role ${role}`)
}
server.bindAsync(address!, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err != null) { process.stderr.write(`${err.message}\n`); process.exit(1) }
  process.stdout.write('ready\n')
})
process.on('SIGTERM', () => { server.forceShutdown(); process.exit(0) })
