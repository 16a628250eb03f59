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

/**
 * Milliseconds per request/response (`bytes` each way) over `transport` on loopback, each on a
 * new stream that both sides close (or, with `reuse`, all on one stream), after one dial that is
 * not timed.
 */
export async function bareLibp2pRoundTrips (transport: Transport, n: number, bytes = 256, reuse = false): Promise<number[]> {
  const server = await bareHost([LISTEN[transport]])
  const client = await bareHost([])
  try {
    await server.handle(ECHO, async (stream) => {
      const lp = lpStream(stream)
      // Echoes until the client closes (a reused stream carries every request).
      for (;;) {
        const msg = await lp.read().catch(() => undefined)
        if (msg === undefined) break
        await lp.write(msg)
        if (!reuse) break
      }
      await stream.close()
    }, { maxInboundStreams: 64 })
    const addr = server.getMultiaddrs()[0]!
    await client.dial(addr)
    const payload = new Uint8Array(bytes).fill(7)
    if (reuse) {
      const lp = lpStream(await client.dialProtocol(server.peerId, ECHO))
      return await timeSeq(n, 200, async () => {
        await lp.write(payload)
        await lp.read()
      })
    }
    return await timeSeq(n, 200, async () => {
      const stream = await client.dialProtocol(server.peerId, ECHO)
      const lp = lpStream(stream)
      await lp.write(payload)
      await lp.read()
      await stream.close()
    })
  } finally {
    // Dialer first: a TCP listener stopped first waits for its connections (FACTS).
    await client.stop()
    await server.stop()
  }
}
