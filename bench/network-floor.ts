/**
 * The floor for a remote job: a bare libp2p request/response between two plain hosts in this
 * process, on one transport, a new stream per request (as `/phase/job/1.0.0` opens one per job;
 * `/phase/job/2.0.0` reuses streams, whose floor is the reused-stream round trip),
 * length-prefixed messages through `lpStream` — no node, no JSON, no job.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { quic } from '@chainsafe/libp2p-quic'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { QUIC_IDLE_TIMEOUT_MS, QUIC_KEEPALIVE_MS } from '../services/discovery/src/p2p/host.ts'
import { timeSeq } from './stats.ts'

export type Transport = 'quic' | 'tcp'

const ECHO = '/phase-bench/echo/1.0.0'

export const LISTEN: Record<Transport, string> = { quic: '/ip4/127.0.0.1/udp/0/quic-v1', tcp: '/ip4/127.0.0.1/tcp/0' }

/** A plain host with the node's transports (QUIC as createHost sets it up, TCP + Noise + yamux). */
export async function bareHost (listen: string[]): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen },
    transports: [quic({ maxIdleTimeout: QUIC_IDLE_TIMEOUT_MS, keepAliveInterval: QUIC_KEEPALIVE_MS }), tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 10_000 }
  })
}

/** A bare echo server and a client dialed to it, on `transport`: one request/response per call. */
export interface BareEcho {
  /** On a new stream that both sides close (as `/phase/job/1.0.0` does per job). */
  newStream: () => Promise<void>
  /** On one stream kept open (as `/phase/job/2.0.0` does). */
  reused: () => Promise<void>
  stop: () => Promise<void>
}

export async function bareEcho (transport: Transport, bytes = 256): Promise<BareEcho> {
  const server = await bareHost([LISTEN[transport]])
  const client = await bareHost([])
  await server.handle(ECHO, async (stream) => {
    const lp = lpStream(stream)
    // Echoes until the client closes (a reused stream carries every request).
    for (;;) {
      const msg = await lp.read().catch(() => undefined)
      if (msg === undefined) break
      await lp.write(msg)
    }
    await stream.close().catch(() => {})
  }, { maxInboundStreams: 64 })
  const payload = new Uint8Array(bytes).fill(7)
  let kept: ReturnType<typeof lpStream>
  try {
    await client.dial(server.getMultiaddrs()[0]!)
    kept = lpStream(await client.dialProtocol(server.peerId, ECHO))
  } catch (err) {
    // Dialer first: a TCP listener stopped first waits for its connections (FACTS).
    await client.stop()
    await server.stop()
    throw err
  }
  return {
    newStream: async () => {
      const stream = await client.dialProtocol(server.peerId, ECHO)
      const lp = lpStream(stream)
      await lp.write(payload)
      await lp.read()
      await stream.close()
    },
    reused: async () => {
      await kept.write(payload)
      await kept.read()
    },
    stop: async () => {
      // Dialer first: a TCP listener stopped first waits for its connections (FACTS).
      await client.stop()
      await server.stop()
    }
  }
}

/**
 * Milliseconds per request/response (`bytes` each way) over `transport` on loopback, each on a
 * new stream that both sides close (or, with `reuse`, all on one stream), after one dial that is
 * not timed.
 */
export async function bareLibp2pRoundTrips (transport: Transport, n: number, bytes = 256, reuse = false): Promise<number[]> {
  const echo = await bareEcho(transport, bytes)
  try {
    return await timeSeq(n, 200, reuse ? echo.reused : echo.newStream)
  } finally {
    await echo.stop()
  }
}
