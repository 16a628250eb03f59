/**
 * GrpcServer's maxConnections (the public API's api.max_connections): past the cap a connection
 * is closed when accepted and the client gets UNAVAILABLE, counted and logged (at most every
 * 10 s); a slot freed serves again; open connections keep working; stop() closes the listener.
 * handshakeMs and silentMs close what would hold a slot for ever: a client that never completes
 * the HTTP/2 handshake, or stops sending (a live one answers keepalive pings, even mid-call).
 * Real sockets on loopback TCP and a unix socket; the connections held are bare TCP/unix
 * sockets that never speak (what a flood of idle connections is).
 */
import { describe, it, expect, afterEach } from '@jest/globals'
import { connect, type Socket } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { captureLog, type CapturedLog } from '../helpers/log-capture.ts'
import { SignerService } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { GrpcServer, createGrpcClient, type ServiceImpl, type GrpcClient, type GrpcServerInit } from '../../services/core/rpc/src/index.ts'
import { waitFor } from '../helpers/wait-for.ts'

const impl: ServiceImpl<typeof SignerService> = {
  async getPublicKey () { return { publicKey: 'ab'.repeat(32), algorithm: 'ed25519' } },
  async getStatus () { return { signedReceipts: 0n } },
  async listSignedJobs () { return { jobIds: [], lastSeq: -1n, more: false } },
  async signReceipt (request) {
    // 'slow': answered after 4 s, longer than the silence limit of the test that sends it.
    if (new TextDecoder().decode(request.receiptJson) === 'slow') await new Promise((resolve) => setTimeout(resolve, 4000))
    return { receiptJson: request.receiptJson, signature: 'cd'.repeat(64) }
  }
}

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f() })

function logged (): CapturedLog<Record<string, unknown>> {
  return captureLog('info')
}

async function holdConnection (target: { port: number } | { path: string }): Promise<Socket> {
  const socket = 'port' in target ? connect({ host: '127.0.0.1', port: target.port }) : connect(target.path)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  cleanup.push(() => { socket.destroy() })
  return socket
}

async function startServer (address: string, maxConnections: number, init: GrpcServerInit = {}): Promise<{ server: GrpcServer, address: string, lines: Array<Record<string, unknown>> }> {
  const { logger, lines } = logged()
  const server = new GrpcServer({ logger }, { maxConnections, shutdownGraceMs: 200, ...init }).add(SignerService, impl)
  const bound = await server.start(address)
  cleanup.push(async () => { await server.stop() })
  return { server, address: bound, lines }
}

/**
 * A client on a connection of its own: grpc-js shares one connection between channels with the
 * same target and options, so each gets different ones (`n`).
 */
function client (address: string, n: number): GrpcClient<typeof SignerService> {
  const c = createGrpcClient(SignerService, address, { maxMessageBytes: (4 << 20) + n })
  cleanup.push(() => { c.close() })
  return c
}

/**
 * One call on a channel that shares nothing (its own subchannel pool) and is closed after it:
 * a refused client that kept retrying would take the next free slot itself.
 */
async function rawCall (address: string): Promise<{ code: number }> {
  const c = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 })
  try {
    return await new Promise((resolve) => {
      c.makeUnaryRequest('/phase.signer.v1.SignerService/GetPublicKey', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 3000 },
        (err) => { resolve({ code: err?.code ?? grpc.status.OK }) })
    })
  } finally {
    c.close()
  }
}

describe('grpc server connection cap', () => {
  for (const kind of ['tcp', 'unix'] as const) {
    it(`refuses a connection past maxConnections (${kind}), serves again when one closes`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'phase-grpc-cap-'))
      cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
      const { server, address, lines } = await startServer(kind === 'tcp' ? '127.0.0.1:0' : `unix:${join(dir, 'api.sock')}`, 3)
      const target = kind === 'tcp' ? { port: Number(address.slice(address.lastIndexOf(':') + 1)) } : { path: address.slice('unix:'.length) }

      // A real client first: its connection is one of the 3 and keeps working throughout.
      const first = client(address, 1)
      expect((await first.getPublicKey({}, { timeoutMs: 5000 })).algorithm).toBe('ed25519')
      const held = [await holdConnection(target), await holdConnection(target)]
      // The cap is full: the next connection is closed at accept, and a client's call fails typed.
      const fourth = await holdConnection(target)
      await new Promise((resolve) => fourth.once('close', resolve))
      const late = await rawCall(address)
      expect(late.code).toBe(grpc.status.UNAVAILABLE)
      expect(server.droppedConnections).toBeGreaterThan(0)
      expect(lines.find((l) => String(l.msg).startsWith('grpc connections refused or closed'))).toMatchObject({ maxConnections: 3, dropped: 1 })
      // The connection inside the cap was not disturbed.
      expect((await first.getPublicKey({}, { timeoutMs: 5000 })).algorithm).toBe('ed25519')

      // A slot frees: a new client is served.
      held[0]!.destroy()
      const again = client(address, 3)
      await waitFor(async () => await again.getPublicKey({}, { timeoutMs: 2000 }).then(() => true, () => false), { what: 'a call once a slot is free', timeoutMs: 20_000, intervalMs: 100 })
    }, 60_000)
  }

  it('closes connections without a handshake in time, and connections that went silent; a live client is kept', async () => {
    const { server, address, lines } = await startServer('127.0.0.1:0', 16, { handshakeMs: 400, silentMs: 2500, keepaliveMs: 1000, idleConnectionMs: 300 })
    const port = Number(address.slice(address.lastIndexOf(':') + 1))
    const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])
    // A live client whose call outlasts the silence limit: the server's keepalive pings, which
    // it answers, are what it sends meanwhile.
    const live = client(address, 4)
    const slow = live.signReceipt({ receiptJson: new TextEncoder().encode('slow') }, { timeoutMs: 10_000 })
    // Clients that never read what the server sends: grpc-js's idle close (300 ms here) is a
    // GOAWAY and a wait for the client, which never comes; each would hold its socket (and a
    // slot of maxConnections) until the server destroys it.
    await holdConnection({ port }) // sends nothing
    ;(await holdConnection({ port })).write(PREFACE) // the preface, then nothing
    ;(await holdConnection({ port })).write(Buffer.concat([PREFACE, EMPTY_SETTINGS])) // a whole handshake, then nothing
    await waitFor(async () => await server.connectionCount() === 4, { what: 'the live client and the three others connected', timeoutMs: 5000, intervalMs: 20 })
    await waitFor(() => server.closedConnections.handshake === 2, { what: 'two connections closed without a handshake', timeoutMs: 5000, intervalMs: 50 })
    // The complete handshake is not closed by that rule, but by silence (2.5 s without a byte;
    // measured without it: still open after 30 s).
    expect(server.closedConnections).toEqual({ handshake: 2, silent: 0 })
    await waitFor(() => server.closedConnections.silent === 1, { what: 'the silent connection closed', timeoutMs: 10_000, intervalMs: 50 })
    expect(await server.connectionCount()).toBe(1)
    expect(new TextDecoder().decode((await slow).receiptJson)).toBe('slow')
    expect((await live.getPublicKey({}, { timeoutMs: 5000 })).algorithm).toBe('ed25519')
    expect(server.closedConnections).toEqual({ handshake: 2, silent: 1 })
    expect(await server.connectionCount()).toBe(1)
    expect(lines.some((l) => String(l.msg).startsWith('grpc connections refused or closed'))).toBe(true)
  }, 30_000)

  it('stop() closes the listener: nothing is accepted after it', async () => {
    const { server, address } = await startServer('127.0.0.1:0', 8)
    const port = Number(address.slice(address.lastIndexOf(':') + 1))
    expect((await client(address, 1).getPublicKey({}, { timeoutMs: 5000 })).algorithm).toBe('ed25519')
    await server.stop()
    const socket = connect({ host: '127.0.0.1', port })
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve))
    expect(err.code).toBe('ECONNREFUSED')
  })
})
