/**
 * Hostile and clumsy clients against a whole node (signer, executor, discovery on loopback):
 * raw request lines, stdin near its cap, invalid UTF-8, malformed peer ids, slowloris on HTTP
 * and gRPC while a well-behaved client keeps working, and eight 60 MB bodies at once (the
 * node's RSS before, at peak and after goes to the suite's table).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { NodeService, SubmitJobRequestSchema } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { create, toBinary } from '@bufbuild/protobuf'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const HELLO_HASH = contentHash(HELLO)
const enc = new TextEncoder()
const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true }
const GRACE_MS = 1500

function manifest (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { version: 1, module_hash: HELLO_HASH, nonce: randomBytes(16).toString('hex'), ...extra }
}

interface HttpAnswer { status: number, body: any }

/** One HTTP request over node:http (a fresh connection), JSON answer. */
async function http (node: TestNode, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const [host, port] = [node.http.slice(0, node.http.lastIndexOf(':')), Number(node.http.slice(node.http.lastIndexOf(':') + 1))]
  return await new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Raw bytes on a TCP socket; resolves with the status code of the answer (0: closed without one). */
async function raw (node: TestNode, text: string): Promise<HttpAnswer> {
  const port = Number(node.http.slice(node.http.lastIndexOf(':') + 1))
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (c) => chunks.push(c))
    socket.on('error', reject)
    socket.on('end', () => {
      const all = Buffer.concat(chunks).toString('utf8')
      const body = all.slice(all.indexOf('\r\n\r\n') + 4)
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1] ?? 0), body: body === '' ? undefined : JSON.parse(body) })
    })
    socket.end(text)
  })
}

/** The CLI against the node's gRPC socket. */
async function phase (node: TestNode, args: string[], stdin: Uint8Array = new Uint8Array()): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const child = execFile(join(ROOT, 'bin/phase'), args, { env: { ...node.env, PHASE_API: node.grpc }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr }))
    child.stdin!.end(stdin)
  })
}

/** An HTTP/2 session on the node's gRPC unix socket, for calls grpc-js would never send. */
function grpcSession (node: TestNode): ClientHttp2Session {
  const path = node.grpc.slice('unix:'.length)
  // Node's default 10 MB session memory counts queued writes: a 60 MB message would make this
  // client refuse the server's own answer (ENHANCE_YOUR_CALM). grpc-js lifts it the same way.
  return http2Connect('http://localhost', { createConnection: () => connect(path), maxSessionMemory: 1024 })
}

/** Opens SubmitJob, sends part of a message and never half-closes; resolves with the status the node ends it with. */
async function unfinishedCall (session: ClientHttp2Session): Promise<{ status: number, code: string | undefined, ms: number }> {
  const started = performance.now()
  return await new Promise((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': '/phase.node.v1.NodeService/SubmitJob', 'content-type': 'application/grpc', te: 'trailers' })
    const prefix = Buffer.alloc(5)
    prefix.writeUInt32BE(1000, 1)
    stream.write(Buffer.concat([prefix, Buffer.alloc(10)]))
    let done = false
    const finish = (headers: Record<string, unknown>): void => {
      if (done || headers['grpc-status'] === undefined) return
      done = true
      resolve({ status: Number(headers['grpc-status']), code: headers['phase-error-code'] as string | undefined, ms: performance.now() - started })
      stream.close()
    }
    stream.on('response', finish)
    stream.on('trailers', finish)
    stream.on('data', () => {})
    stream.on('error', () => {})
    stream.on('close', () => { if (!done) { done = true; resolve({ status: -1, code: undefined, ms: performance.now() - started }) } })
  })
}

function rssKiB (pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN)
}

describe('the node with hostile clients', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  let discoveryPid: number

  beforeAll(async () => {
    node = await startTestNode({
      executors: 1,
      config: {
        p2p: P2P,
        api: { http: { host: '127.0.0.1', port: 0 }, body_grace_ms: GRACE_MS, min_bytes_per_second: 4096, headers_timeout_ms: GRACE_MS, request_timeout_ms: 30_000 }
      }
    })
    client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 256 * 1024 * 1024 })
    discoveryPid = node.procs.get('discovery')!.child.pid!
  })

  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  it('answers a raw // request line with 404 not_found, not a 500, when curl --path-as-is sends it', async () => {
    const host = node.http
    for (const path of ['//', '//?x', '//v1/node', '/%2e%2e/']) {
      const res = await raw(node, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      expect([path, res.status, res.body?.error?.code]).toEqual([path, 404, 'not_found'])
    }
    expect(node.log('discovery')).not.toMatch(/"level":50/)
  })

  it('refuses a Host header that names another machine with 421 host_not_allowed', async () => {
    const res = await raw(node, `GET /v1/node HTTP/1.1\r\nHost: rebind.example:${node.http.split(':').pop()!}\r\nConnection: close\r\n\r\n`)
    expect(res.status).toBe(421)
    expect(res.body.error.code).toBe('host_not_allowed')
  })

  it('answers a malformed peer id with invalid_argument on gRPC, HTTP and the CLI (exit 65) when the node is on the network', async () => {
    const m = enc.encode(JSON.stringify(manifest({ args: ['x'] })))
    for (const peerId of ['notapeer', '12D3KooW' + '1'.repeat(44), 'Qm' + 'x'.repeat(200)]) {
      await expect(client.submitJob({ manifestJson: m, module: HELLO, peerId })).rejects.toMatchObject({ code: 'invalid_argument' })
    }
    const res = await http(node, 'POST', '/v1/jobs', JSON.stringify({ manifest: manifest(), module: HELLO.toString('base64'), peer_id: 'notapeer' }))
    expect([res.status, res.body.error.code]).toEqual([400, 'invalid_argument'])
    const cli = await phase(node, ['run', '--peer', 'notapeer', join(ROOT, 'examples/hello/hello.wasm'), '--', 'x'])
    expect(cli.code).toBe(65)
    expect(cli.stderr).toMatch(/not a libp2p PeerId/)
    expect(node.log('discovery')).not.toMatch(/"level":50/)
  })

  it('runs jobs whose stdin is between 3.4 MB and the 4 MiB cap on gRPC, HTTP and the CLI', async () => {
    for (const bytes of [3_500_000, 4 * 1024 * 1024]) {
      const stdin = Buffer.alloc(bytes, 0x5a).toString('base64')
      const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: ['grpc'], stdin }))), module: HELLO })
      expect([bytes, res.status]).toEqual([bytes, 'ok'])
      const h = await http(node, 'POST', '/v1/jobs', JSON.stringify({ manifest: manifest({ args: ['http'], stdin }) }))
      expect([bytes, h.status, h.body.status]).toEqual([bytes, 200, 'ok'])
    }
    const cli = await phase(node, ['run', join(ROOT, 'examples/hello/hello.wasm'), '--', 'cli'], Buffer.alloc(3_800_000, 0x41))
    expect([cli.code, cli.stdout]).toEqual([0, 'ilc\n'])
  })

  it('refuses invalid UTF-8 in the manifest with invalid_json on HTTP as gRPC does', async () => {
    const text = JSON.stringify({ manifest: manifest({ args: ['\u0000MARK'] }), module: HELLO.toString('base64') })
    const body = Buffer.from(text, 'utf8')
    const at = body.indexOf('\\u0000MARK')
    body.set([0xc3, 0x28], at)
    const res = await http(node, 'POST', '/v1/jobs', body)
    expect([res.status, res.body.error.code]).toEqual([400, 'invalid_json'])
    const bytes = Buffer.from(JSON.stringify(manifest({ args: ['MARK'] })))
    bytes.set([0xff], bytes.indexOf('MARK'))
    await expect(client.submitJob({ manifestJson: bytes, module: HELLO })).rejects.toMatchObject({ code: 'invalid_json' })
  })

  it('ends a gRPC call that never half-closes with DEADLINE_EXCEEDED request_timeout', async () => {
    const session = grpcSession(node)
    try {
      const ended = await unfinishedCall(session)
      expect(ended).toMatchObject({ status: 4, code: 'request_timeout' })
    } finally {
      session.destroy()
    }
  })

  it('keeps a well-behaved client at >= 99% success while slowloris clients hold HTTP headers, HTTP bodies and gRPC streams', async () => {
    const port = Number(node.http.split(':').pop())
    // The module in the cache first: the HTTP jobs below send only its hash.
    expect((await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: ['warm'] }))), module: HELLO })).status).toBe('ok')
    const EACH = 40
    // As many unfinished gRPC calls as the issue held open on main, over 8 connections (the server
    // takes 256 concurrent calls per connection).
    const STREAMS = 2000
    const sockets: Socket[] = []
    const closedAt: number[] = []
    const started = performance.now()
    const drips: NodeJS.Timeout[] = []
    const slow = (head: string): void => {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      socket.on('data', () => {})
      socket.on('close', () => closedAt.push(performance.now() - started))
      socket.write(head)
      // One byte every 300 ms: far below any useful rate, but never idle.
      drips.push(setInterval(() => { if (!socket.destroyed) socket.write(head.startsWith('POST') ? ' ' : 'x') }, 300))
      sockets.push(socket)
    }
    for (let i = 0; i < EACH; i++) {
      slow(`GET /v1/node HTTP/1.1\r\nHost: ${node.http}\r\nX-Slow: `)
      slow(`POST /v1/jobs HTTP/1.1\r\nHost: ${node.http}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{`)
    }
    const sessions = Array.from({ length: 8 }, () => grpcSession(node))
    const streams = Array.from({ length: STREAMS }, (_, i) => unfinishedCall(sessions[i % 8]!))
    let ok = 0
    let failed = 0
    const codes = new Map<string, number>()
    const good = async (i: number): Promise<void> => {
      try {
        if (i % 2 === 0) {
          const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest({ args: [`g${i}`] }))), module: HELLO })
          if (res.status !== 'ok') throw Object.assign(new Error('status'), { code: res.status })
        } else {
          const res = await http(node, 'POST', '/v1/jobs', JSON.stringify({ manifest: manifest({ args: [`h${i}`] }) }))
          if (res.status !== 200) throw Object.assign(new Error('status'), { code: res.body?.error?.code ?? String(res.status) })
        }
        ok++
      } catch (err) {
        failed++
        const code = String((err as { code?: unknown }).code ?? 'error')
        codes.set(code, (codes.get(code) ?? 0) + 1)
      }
    }
    // Jobs for three grace periods: every slowloris client should be cut off meanwhile.
    let i = 0
    while (performance.now() - started < GRACE_MS * 3 || i < 200) {
      await Promise.all([good(i++), good(i++), good(i++), good(i++)])
    }
    const ended = await Promise.all(streams)
    // The figures below are recorded either way; the expect after them names the count.
    await waitFor(() => closedAt.length === sockets.length, { what: 'the node to close every slowloris HTTP connection' }).catch(() => {})
    for (const d of drips) clearInterval(d)
    for (const s of sockets) s.destroy()
    for (const s of sessions) s.destroy()
    const rate = ok / (ok + failed)
    figure('clients', `slowloris (${EACH} slow-header + ${EACH} slow-body HTTP, ${STREAMS} unfinished gRPC calls): well-behaved jobs succeeded`, `${(rate * 100).toFixed(2)}% of ${ok + failed}`, failed === 0 ? 'pass' : `failures ${JSON.stringify(Object.fromEntries(codes))}`)
    figure('clients', 'slowloris HTTP connections closed by the node', `${closedAt.length}/${sockets.length}`, `last after ${Math.round(Math.max(...closedAt))} ms`)
    figure('clients', 'slowloris gRPC calls ended (DEADLINE_EXCEEDED request_timeout)', `${ended.filter((e) => e.code === 'request_timeout').length}/${STREAMS}`, `last after ${Math.round(Math.max(...ended.map((e) => e.ms)))} ms`)
    expect(rate).toBeGreaterThanOrEqual(0.99)
    expect(closedAt.length).toBe(sockets.length)
    expect(ended.filter((e) => e.code !== 'request_timeout')).toEqual([])
  }, 120_000)
})

/** One complete SubmitJob call on its own HTTP/2 connection; resolves with its status and typed code. */
async function submitOnOwnConnection (node: TestNode, message: Uint8Array): Promise<string> {
  const session = grpcSession(node)
  try {
    return await new Promise((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': '/phase.node.v1.NodeService/SubmitJob', 'content-type': 'application/grpc', te: 'trailers' })
      const prefix = Buffer.alloc(5)
      prefix.writeUInt32BE(message.byteLength, 1)
      let code: string | undefined
      const take = (headers: Record<string, unknown>): void => {
        if (headers['grpc-status'] !== undefined) code ??= `${String(headers['grpc-status'])}/${String(headers['phase-error-code'] ?? '')}`
      }
      stream.on('response', take)
      stream.on('trailers', take)
      stream.on('data', () => {})
      stream.on('error', () => {})
      stream.on('close', () => resolve(code ?? 'closed'))
      // A refusal ends the stream early (RST_STREAM NO_ERROR) while this side is still writing.
      stream.on('end', () => { if (code !== undefined) resolve(code) })
      stream.end(Buffer.concat([prefix, message]))
    })
  } finally {
    session.destroy()
  }
}

describe('the node under eight concurrent 60 MB requests', () => {
  let node: TestNode
  let discoveryPid: number
  // A module under a manifest naming another hash: requests that get in end as hash_mismatch,
  // after the node has held every byte of them.
  const module = randomBytes(45 * 1000 * 1000)
  const wrongHash = `sha256:${'00'.repeat(32)}`

  beforeAll(async () => {
    node = await startTestNode({ executors: 1 })
    discoveryPid = node.procs.get('discovery')!.child.pid!
  })

  afterAll(async () => { await node?.stop() })

  /** Runs `send` eight times at once, sampling discovery's VmRSS; records and returns what happened. */
  async function flood (what: string, send: () => Promise<string>): Promise<{ codes: string[], before: number, peak: number, after: number }> {
    const before = rssKiB(discoveryPid)
    let peak = before
    const sampler = setInterval(() => { peak = Math.max(peak, rssKiB(discoveryPid)) }, 20)
    let codes: string[]
    try {
      codes = await Promise.all(Array.from({ length: 8 }, send))
    } finally {
      clearInterval(sampler)
    }
    peak = Math.max(peak, rssKiB(discoveryPid))
    // Not synchronization: "after" is RSS one second after the flood (a figure, not asserted).
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const after = rssKiB(discoveryPid)
    const count = (c: string): number => codes.filter((x) => x.endsWith(c)).length
    figure('clients', `8 concurrent 60 MB ${what}: answers`, `${count('overloaded')} overloaded, ${count('hash_mismatch')} processed`, codes.every((c) => c.endsWith('overloaded') || c.endsWith('hash_mismatch')) ? 'pass' : JSON.stringify(codes))
    figure('clients', `8 concurrent 60 MB ${what}: discovery VmRSS before / peak / after`, `${Math.round(before / 1024)} / ${Math.round(peak / 1024)} / ${Math.round(after / 1024)}`, 'MiB')
    return { codes, before, peak, after }
  }

  it('refuses most of eight 60 MB HTTP bodies with 503 overloaded and keeps the node\'s RSS bounded', async () => {
    const body = Buffer.from(JSON.stringify({ manifest: manifest({ module_hash: wrongHash }), module: module.toString('base64') }))
    const { codes, before, peak } = await flood('HTTP bodies', async () => {
      const a = await http(node, 'POST', '/v1/jobs', body)
      return `${a.status}/${String(a.body?.error?.code)}`
    })
    expect(codes.every((c) => c === '503/overloaded' || c === '422/hash_mismatch')).toBe(true)
    expect(codes.filter((c) => c === '503/overloaded').length).toBeGreaterThanOrEqual(4)
    expect(codes.filter((c) => c === '422/hash_mismatch').length).toBeGreaterThanOrEqual(1)
    // Unbounded, eight bodies cost ~1.7 GB; the 128 MiB budget lets two in at a time.
    expect(peak - before).toBeLessThan(900 * 1024)
  }, 120_000)

  it('refuses most of eight 60 MB gRPC messages with RESOURCE_EXHAUSTED overloaded, each on its own connection', async () => {
    const message = toBinary(SubmitJobRequestSchema, create(SubmitJobRequestSchema, { manifestJson: enc.encode(JSON.stringify(manifest({ module_hash: wrongHash }))), module: randomBytes(60 * 1000 * 1000) }))
    const { codes, before, peak } = await flood('gRPC messages', async () => await submitOnOwnConnection(node, message))
    expect(codes.every((c) => c === '8/overloaded' || c === '3/hash_mismatch')).toBe(true)
    expect(codes.filter((c) => c === '8/overloaded').length).toBeGreaterThanOrEqual(4)
    expect(peak - before).toBeLessThan(900 * 1024)
  }, 120_000)
})
