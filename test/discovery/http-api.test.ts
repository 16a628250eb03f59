/**
 * HttpApi on real sockets (port 0 and a temp unix socket), driven with raw bytes where a real
 * client would clean the input up: odd paths, foreign Host headers, invalid UTF-8, bodies that
 * stop, crawl or overflow the node's buffer budget. The job path is a small recorder (the route
 * to a real node is covered by the integration tests).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { connect, type Socket } from 'node:net'
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { captureLog } from '../helpers/log-capture.ts'
import { HttpApi, type HttpApiInit } from '../../services/discovery/src/http-api.ts'
import { Intake } from '../../services/core/rpc/src/intake.ts'
import type { Logger } from '../../services/core/process/src/logger.ts'
import { waitFor } from '../helpers/wait-for.ts'

interface Started { api: HttpApi, port: number, lines: Array<Record<string, unknown>>, runs: unknown[] }

const started: Started[] = []
let dir: string

async function startApi (init: Partial<HttpApiInit> = {}, run?: (req: unknown) => Promise<any>): Promise<Started> {
  const { logger: pinoLogger, lines } = captureLog('debug')
  const logger = pinoLogger as unknown as Logger
  const runs: unknown[] = []
  const api = new HttpApi({
    jobs: { run: async (req) => { runs.push(req); if (run !== undefined) return await run(req); throw new Error('recorder: no job path here') } },
    modules: { has: () => false },
    info: async () => ({ peerId: 'p', receiptPublicKey: 'k', version: 'v', executors: 0, runtimeName: 'r', runtimeVersion: 'v', network: undefined }),
    logger
  }, { host: '127.0.0.1', port: 0, token: null, maxBodyBytes: 1024 * 1024, ...init })
  const address = await api.start()
  const s = { api, port: Number(address.split(':').pop()), lines, runs }
  started.push(s)
  return s
}

/** Sends raw bytes, returns the status line's code and the JSON body (or the close). */
async function raw (port: number, text: string | Buffer): Promise<{ status: number, body: any }> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (c) => chunks.push(c))
    socket.on('error', reject)
    socket.on('end', () => {
      const all = Buffer.concat(chunks).toString('utf8')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1] ?? 0)
      const body = all.slice(all.indexOf('\r\n\r\n') + 4)
      resolve({ status, body: body === '' ? undefined : JSON.parse(body) })
    })
    socket.end(text)
  })
}

function post (port: number, body: Buffer, host = `127.0.0.1:${port}`): Buffer {
  return Buffer.concat([Buffer.from(`POST /v1/jobs HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body])
}

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-http-')) })
afterAll(async () => {
  await Promise.all(started.map(async (s) => await s.api.stop()))
  await rm(dir, { recursive: true, force: true })
})

describe('HttpApi', () => {
  it('answers a // path with a typed 404, not a 500, when the URL has no host part', async () => {
    const { port, lines } = await startApi()
    const res = await raw(port, `GET // HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`)
    expect(res.status).toBe(404)
    expect(res.body.error.code).toBe('not_found')
    const other = await raw(port, `GET //x/../v1/node?a=b HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`)
    expect(other.body.error.code).toBe('not_found')
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([])
  })

  it('refuses a foreign Host header with 421 host_not_allowed when the page rebinds a DNS name', async () => {
    const { port } = await startApi()
    for (const host of [`evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `localhost:${port + 1}`, 'localhost', '[::2]:' + String(port), 'a:b:c']) {
      const res = await raw(port, `GET /v1/node HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      expect([host, res.status, res.body?.error?.code]).toEqual([host, 421, 'host_not_allowed'])
    }
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      const res = await raw(port, `GET /v1/node HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      expect([host, res.status]).toEqual([host, 200])
    }
  })

  it('serves the names an operator allows besides loopback', async () => {
    const { port } = await startApi({ allowedHosts: ['node.example.org'] })
    expect((await raw(port, `GET /v1/node HTTP/1.1\r\nHost: node.example.org:${port}\r\nConnection: close\r\n\r\n`)).status).toBe(200)
    expect((await raw(port, `GET /v1/node HTTP/1.1\r\nHost: other.example.org:${port}\r\nConnection: close\r\n\r\n`)).status).toBe(421)
  })

  it('refuses invalid UTF-8 in the manifest with invalid_json when the bytes would become U+FFFD', async () => {
    const { port, runs } = await startApi()
    const body = Buffer.concat([Buffer.from('{"manifest":{"version":1,"module_hash":"sha256:'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')])
    const res = await raw(port, post(port, body))
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('invalid_json')
    expect(res.body.error.message).toMatch(/UTF-8/)
    expect(runs).toEqual([])
  })

  it('logs a client that leaves mid-upload at debug level without a stack, when the body stops', async () => {
    const intake = new Intake({ graceMs: 30_000, timeoutMs: 30_000 })
    const { port, lines } = await startApi({ intake })
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"manifest":`)
    // Leave once the server is reading the body (it has reserved the declared bytes).
    await waitFor(() => intake.bufferedBytes > 0, { what: 'the server to start reading the body', intervalMs: 20 })
    socket.destroy()
    // The server sees the reset on its next turn; wait for its line.
    await waitFor(() => lines.some((l) => l.code === 'cancelled'), { what: 'the server to log the cancelled upload', intervalMs: 20 })
    intake.close()
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([])
    const gone = lines.find((l) => l.code === 'cancelled')
    expect(gone).toMatchObject({ level: 20 })
    expect(JSON.stringify(gone)).not.toContain('stack')
  })

  it('answers a body that crawls with 408 request_timeout when it falls below the minimum rate', async () => {
    const intake = new Intake({ graceMs: 300, minBytesPerSecond: 1000, timeoutMs: 30_000 })
    const { port } = await startApi({ intake })
    const res = await new Promise<{ status: number, body: any }>((resolve, reject) => {
      const socket: Socket = connect(port, '127.0.0.1')
      const chunks: Buffer[] = []
      socket.on('data', (c) => chunks.push(c))
      socket.on('error', reject)
      socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{`)
      const drip = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, 100)
      socket.on('close', () => {
        clearInterval(drip)
        const all = Buffer.concat(chunks).toString('utf8')
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1] ?? 0), body: JSON.parse(all.slice(all.indexOf('\r\n\r\n') + 4)) })
      })
    })
    expect(res.status).toBe(408)
    expect(res.body.error.code).toBe('request_timeout')
    expect(intake.bufferedBytes).toBe(0)
    intake.close()
  })

  it('refuses a body with 503 overloaded when the bodies in flight would pass the budget, and serves it again once they are done', async () => {
    const intake = new Intake({ maxBufferedBytes: 150_000, graceMs: 30_000, timeoutMs: 30_000 })
    const { port } = await startApi({ intake })
    // The first body declares 100 kB and sends only part of it, holding its reservation.
    const holder = connect(port, '127.0.0.1')
    await new Promise<void>((resolve) => holder.once('connect', () => resolve()))
    holder.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"manifest":`)
    await waitFor(() => intake.bufferedBytes > 0, { what: 'the server to reserve the first body', intervalMs: 20 })
    expect(intake.bufferedBytes).toBe(100_000)
    const second = await raw(port, post(port, Buffer.from(JSON.stringify({ manifest: { version: 1 }, pad: 'x'.repeat(60_000) }))))
    expect(second.status).toBe(503)
    expect(second.body.error.code).toBe('overloaded')
    holder.destroy()
    await waitFor(() => intake.bufferedBytes === 0, { what: 'the server to give back the first body\'s reservation', intervalMs: 20 })
    const third = await raw(port, post(port, Buffer.from(JSON.stringify({ manifest: { version: 1 }, pad: 'x'.repeat(60_000) }))))
    expect(third.body.error.code).toBe('invalid_manifest')
    intake.close()
  })

  /** A raw connection to the API that records what arrives and what happens to it. */
  async function rawConnection (port: number): Promise<{ socket: Socket, events: string[], text: () => string }> {
    const socket = connect(port, '127.0.0.1')
    const events: string[] = []
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', (err: NodeJS.ErrnoException) => events.push(`error ${err.code ?? ''}`))
    socket.on('end', () => events.push('end'))
    socket.on('close', () => events.push('close'))
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    return { socket, events, text: () => Buffer.concat(chunks).toString('utf8') }
  }

  /** An upload (`Connection: close` unless told) declaring 32 MiB (over the 1 MiB cap; more than loopback's socket buffers hold): headers and the first 64 KiB, then the answer read. */
  async function answeredEarly (port: number, connection = 'close'): Promise<{ socket: Socket, answer: string, events: string[] }> {
    const { socket, events, text } = await rawConnection(port)
    socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${32 * 1024 * 1024}\r\nConnection: ${connection}\r\n\r\n`)
    socket.write(Buffer.alloc(64 * 1024, 0x20))
    await waitFor(() => text().endsWith('}}'), { what: 'the early answer', intervalMs: 10 })
    return { socket, answer: text(), events }
  }

  /** Sends the rest of answeredEarly's 32 MiB body, recording failed writes, then 'body sent'. */
  async function sendRest (socket: Socket, events: string[]): Promise<void> {
    const rest = 32 * 1024 * 1024 - 64 * 1024
    for (let sent = 0; sent < rest; sent += 256 * 1024) {
      await new Promise<void>((resolve) => socket.write(Buffer.alloc(Math.min(256 * 1024, rest - sent), 0x20), (err) => {
        if (err != null) events.push(`write failed ${(err as NodeJS.ErrnoException).code ?? ''}`)
        resolve()
      }))
    }
    events.push('body sent')
  }

  for (const connection of ['close', 'keep-alive']) {
    it(`keeps a Connection: ${connection} upload answered early open until the rest of its body has arrived, then closes it, so the client still sending is not reset`, async () => {
      const { port } = await startApi()
      const { socket, answer, events } = await answeredEarly(port, connection)
      expect(answer).toMatch(/^HTTP\/1\.1 413 /)
      expect(answer).toMatch(/\r\nconnection: close\r\n/i)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code).toBe('module_too_large')
      // Without the linger, the node closed the socket after its answer and these writes were reset.
      await sendRest(socket, events)
      // The node ends the connection once the body is complete, and only then.
      await waitFor(() => events.includes('close'), { what: 'the node to end the connection after the body', intervalMs: 20 })
      expect(events).toEqual(['body sent', 'end', 'close'])
    })
  }

  it('writes the answer to a pipelined request before ending a connection whose next request was answered early', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => { release = resolve })
    const { port } = await startApi({}, async () => {
      await held
      return { jobId: 'j', status: 'ok', exitCode: 0, stdout: new Uint8Array(), stderr: new Uint8Array(), manifest: {}, manifestJson: new Uint8Array(), peerId: 'p', receiptJson: Buffer.from('{}'), executor: 0 }
    })
    const { socket, events, text } = await rawConnection(port)
    // A: a whole job request whose job waits; B, pipelined behind it: 2 MiB, over the 1 MiB cap.
    const a = Buffer.from('{"manifest":{"version":1}}')
    socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${a.length}\r\n\r\n`)
    socket.write(a)
    socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\nConnection: close\r\n\r\n`)
    // B's whole body arrives while A's job still runs: the connection must stay for A's answer.
    await new Promise<void>((resolve) => socket.write(Buffer.alloc(2 * 1024 * 1024, 0x20), () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(events).toEqual([])
    release()
    await waitFor(() => events.includes('close'), { what: 'the connection to end after both answers', intervalMs: 20 })
    expect([...text().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])).toEqual(['200', '413'])
    expect(events).toEqual(['end', 'close'])
  })

  it('closes at once a connection answered early whose dropped rest is malformed, without a second answer', async () => {
    const { port } = await startApi()
    const { socket, events, text } = await rawConnection(port)
    // Chunked, the first chunk over the 1 MiB cap: answered 413 while the body still arrives.
    socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)
    socket.write(`200000\r\n${' '.repeat(0x200000)}\r\n`)
    await waitFor(() => text().endsWith('}}'), { what: 'the early answer', intervalMs: 10 })
    socket.write('zz not a chunk size\r\n')
    await waitFor(() => events.includes('close'), { what: 'the node to close the connection', intervalMs: 20 })
    expect([...text().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])).toEqual(['413'])
  })

  it('closes a connection answered early once it has lingered its longest, though its client keeps sending', async () => {
    const { port } = await startApi({ lingerMs: 500 })
    const { socket, events } = await answeredEarly(port)
    // A byte every 100 ms: never idle long enough for Node's keep-alive timeout to close it.
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, 100)
    try {
      await waitFor(() => events.includes('close'), { what: 'the lingering connection to close', intervalMs: 20, timeoutMs: 10_000 })
    } finally {
      clearInterval(drip)
      socket.destroy()
    }
  })

  it('closes a connection answered early when its client goes silent (Node\'s keep-alive timeout), long before the linger ends', async () => {
    const { port } = await startApi()
    const { events } = await answeredEarly(port)
    await waitFor(() => events.includes('close'), { what: 'the silent connection to close', intervalMs: 50, timeoutMs: 15_000 })
  }, 20_000)

  it('does not hold a connection answered early once the node is stopping', async () => {
    const intake = new Intake({ graceMs: 30_000, timeoutMs: 30_000 })
    const { api, port } = await startApi({ intake })
    const { socket, events } = await rawConnection(port)
    // Chunked, under the 1 MiB cap so far: the server is reading it when the stop begins.
    socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)
    socket.write(`10000\r\n${' '.repeat(0x10000)}\r\n`)
    await waitFor(() => intake.bufferedBytes > 0, { what: 'the server to read the first chunk', intervalMs: 10 })
    const stopped = api.stop()
    // Past the cap during the stop: answered 413 early; the client keeps sending a byte every 100 ms
    // (all inside one 16 MiB chunk).
    socket.write(`1000000\r\n${' '.repeat(0x100000)}`)
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, 100)
    try {
      // Held (as before the stop), the connection kept server.close() waiting 30 s.
      await stopped
      await waitFor(() => events.includes('close'), { what: 'the connection to close', intervalMs: 20 })
    } finally {
      clearInterval(drip)
      socket.destroy()
      intake.close()
    }
  }, 20_000)

  it('closes a connection answered early at stop even while its client keeps sending', async () => {
    const { api, port } = await startApi()
    const { socket, events } = await answeredEarly(port)
    // A byte every 100 ms: never idle long enough for Node's keep-alive timeout to close it.
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, 100)
    try {
      await api.stop()
      await waitFor(() => events.includes('close'), { what: 'the lingering connection to close', intervalMs: 20 })
    } finally {
      clearInterval(drip)
      socket.destroy()
    }
  }, 20_000)

  it('frees the body\'s budget once the job is done when the client never reads its answer', async () => {
    const intake = new Intake({ graceMs: 30_000, timeoutMs: 30_000 })
    // 16 MB of output: an answer of ~38 MB, far more than the sockets buffer.
    const stdout = Buffer.alloc(16 * 1024 * 1024, 0x61)
    let jobDone = false
    const { port } = await startApi({ intake }, async () => {
      jobDone = true
      return { jobId: 'j', status: 'ok', exitCode: 0, stdout, stderr: new Uint8Array(), manifest: {}, manifestJson: new Uint8Array(), peerId: 'p', receiptJson: Buffer.from('{}'), executor: 0 }
    })
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const body = Buffer.from(JSON.stringify({ manifest: { version: 1 }, module: Buffer.alloc(150_000).toString('base64') }))
    socket.write(post(port, body))
    socket.pause()
    await waitFor(() => jobDone && intake.bufferedBytes === 0, { what: 'the job to be done and its body\'s budget free', intervalMs: 20 })
    socket.destroy()
    intake.close()
  })

  it('listens on the unix socket only when TCP is off', async () => {
    const socket = join(dir, 'http.sock')
    const { api } = await startApi({ tcp: false, socket })
    expect(await api.start()).toBe(`unix:${socket}`)
    const status = await new Promise<number>((resolve, reject) => {
      request({ socketPath: socket, path: '/v1/node', headers: { host: 'anything' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject).end()
    })
    expect(status).toBe(200)
  })

  it('answers what Node would refuse itself (no Host, malformed request, oversized headers, chunked with a length) with the typed JSON error', async () => {
    const { port, lines } = await startApi()
    const noHost = await raw(port, 'GET /v1/node HTTP/1.1\r\nConnection: close\r\n\r\n')
    expect(noHost).toMatchObject({ status: 400, body: { error: { code: 'invalid_argument' } } })
    const malformed = await raw(port, 'GET /v1/node HTTP/1.1\r\nbad header line\r\n\r\n')
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_argument' } } })
    const smuggled = await raw(port, `POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`)
    expect(smuggled).toMatchObject({ status: 400, body: { error: { code: 'invalid_argument' } } })
    const garbage = await raw(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x0d, 0x0a, 0x0d, 0x0a]))
    expect(garbage).toMatchObject({ status: 400, body: { error: { code: 'invalid_argument' } } })
    const huge = await raw(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${'x-a: b\r\n'.repeat(3000)}\r\n`)
    expect(huge).toMatchObject({ status: 431, body: { error: { code: 'headers_too_large' } } })
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([])
  })

  it('answers an Expect other than 100-continue with 417 expectation_failed', async () => {
    const { port } = await startApi()
    const res = await raw(port, `GET /v1/node HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nExpect: teapot\r\nConnection: close\r\n\r\n`)
    expect(res).toMatchObject({ status: 417, body: { error: { code: 'expectation_failed' } } })
  })

  it('answers CONNECT with a typed 405 and closes, when a client takes the API for a proxy', async () => {
    const { port } = await startApi()
    const res = await raw(port, `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`)
    expect(res).toMatchObject({ status: 405, body: { error: { code: 'not_found' } } })
    expect(res.body.error.message).toMatch(/CONNECT/)
  })
})
