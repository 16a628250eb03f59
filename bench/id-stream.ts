/**
 * The bare shape's streams (shape-chain.ts, shape-chain-proc.ts): one long-lived gRPC bidi stream
 * of raw bytes on which each call is one message carrying a 4-byte call id, answered by id — as
 * the node's multiplexed streams do (rpc/mux.ts), with nothing else of them.
 */
import * as grpc from '@grpc/grpc-js'

export const CHAIN_STREAM_PATH = '/bench.Chain/Stream'

export const passthrough = (b: Buffer): Buffer => b

export interface IdStream {
  /** One call: `payload` out, its answer back. Fails once the stream failed or ended. */
  call: (payload: Buffer) => Promise<Buffer>
  end: () => void
}

export function idStream (client: grpc.Client, path = CHAIN_STREAM_PATH): IdStream {
  const stream = client.makeBidiStreamRequest(path, passthrough, passthrough)
  const pending = new Map<number, { resolve: (b: Buffer) => void, reject: (err: Error) => void }>()
  let next = 0
  let broken: Error | undefined
  // The other side dying or ending the stream fails the calls in flight and every later one.
  const fail = (err: Error): void => {
    broken ??= err
    for (const p of pending.values()) p.reject(broken)
    pending.clear()
  }
  stream.on('error', fail)
  stream.on('end', () => fail(new Error(`${path}: the other side ended the stream`)))
  stream.on('close', () => fail(new Error(`${path}: the stream closed`)))
  stream.on('data', (msg: Buffer) => { const id = msg.readUInt32BE(0); pending.get(id)?.resolve(msg.subarray(4)); pending.delete(id) })
  return {
    call: async (payload) => await new Promise((resolve, reject) => {
      if (broken !== undefined) { reject(broken); return }
      const id = next++ >>> 0
      pending.set(id, { resolve, reject })
      const head = Buffer.alloc(4)
      head.writeUInt32BE(id)
      stream.write(Buffer.concat([head, payload]))
    }),
    end: () => { stream.end() }
  }
}
