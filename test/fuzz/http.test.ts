/**
 * Fuzzing the HTTP API of a running node over raw sockets (so requests the Node client would
 * refuse to send still go out): every route with every method, random headers, bodies of random
 * JSON, mutated valid job requests, random bytes, huge numbers, deep nesting, bad UTF-8, and
 * raw garbage instead of a request. No 500, no untyped error body, no process lost, discovery's
 * memory back within 20% after the run.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import fc from 'fast-check'
import { connect } from 'node:net'
import { writeFileSync } from 'node:fs'
import { ERROR_TABLE } from '../../services/core/protocol/src/errors.ts'
import { figure } from '../helpers/figures.ts'
import { hostile, mutated, asText, json, badUtf8 } from './arbitraries.ts'
import { deadProcesses, freshNonce, isErrorCode, memoryAfter, rebase, startFuzzNode, Tally, HELLO, HELLO_HASH, type FuzzNode } from './fuzz-node.ts'
import { params, SEED, budget } from './fuzz-config.ts'

let f: FuzzNode
beforeAll(async () => { f = await startFuzzNode() }, 60_000)
afterAll(async () => { await f?.node.stop() })

interface Response { status: number, headers: string, body: Buffer }

/** Sends raw bytes on a new connection; resolves with the parsed response (or status 0 when the server closed without one). */
async function raw (request: Uint8Array, halfClose = false, timeoutMs = 15_000): Promise<Response> {
  const [host, port] = [f.node.http.slice(0, f.node.http.lastIndexOf(':')), Number(f.node.http.slice(f.node.http.lastIndexOf(':') + 1))]
  return await new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer in ${timeoutMs} ms to ${Buffer.from(request.subarray(0, 200)).toString('latin1')}`)) }, timeoutMs)
    socket.on('data', (d) => chunks.push(d))
    socket.on('error', () => {}) // ECONNRESET after a refusal: what was read still counts
    socket.on('close', () => {
      clearTimeout(timer)
      let all = Buffer.concat(chunks)
      // An interim 100 Continue comes before the real answer.
      while (/^HTTP\/1\.1 100 /.test(all.subarray(0, 13).toString('latin1')) && all.indexOf('\r\n\r\n') !== -1) all = all.subarray(all.indexOf('\r\n\r\n') + 4)
      const head = all.indexOf('\r\n\r\n')
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(all.subarray(0, 20).toString('latin1'))?.[1] ?? 0)
      resolve({ status, headers: all.subarray(0, head === -1 ? all.length : head).toString('latin1'), body: head === -1 ? Buffer.alloc(0) : all.subarray(head + 4) })
    })
    // A well-formed request keeps its side open (clients do; a half-close cancels the job);
    // garbage is followed by EOF so that a request the server waits on still ends.
    if (halfClose) socket.end(request)
    else socket.write(request)
  })
}

function request (method: string, path: string, headers: Array<[string, string]>, body: Uint8Array | undefined): Uint8Array {
  // The Host names the listener with its port: without the port every request met the Host
  // check (421) and the fuzzer never reached the routes behind it.
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${f.node.http}`, 'connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)]
  if (body !== undefined) lines.push(`content-length: ${body.length}`)
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
  return body === undefined ? head : Buffer.concat([head, body])
}

/** Body of a 4xx/5xx answer must be `{ error: { code, message } }` with the status the table gives that code. */
function typedError (res: Response): string | undefined {
  let doc: { error?: { code?: unknown, message?: unknown } }
  try { doc = JSON.parse(res.body.toString('utf8')) } catch { return `status ${res.status} without a JSON body: ${res.headers.split('\r\n')[0]} ${res.body.subarray(0, 80).toString('latin1')}` }
  const code = doc.error?.code
  if (!isErrorCode(code) || typeof doc.error?.message !== 'string') return `status ${res.status} with an untyped body ${res.body.subarray(0, 120).toString('utf8')}`
  const want = ERROR_TABLE[code as keyof typeof ERROR_TABLE].http
  if (res.status !== want && !(res.status === 405 && code === 'not_found')) return `status ${res.status} for code ${String(code)} (table: ${want})`
  return undefined
}

const ROUTES = ['/v1/jobs', '/v1/node', '/v1/status', '/metrics', '/healthz', `/v1/modules/${HELLO_HASH}`, '/v1/modules/sha256:zz', '/v1/jobs/', '/v1/jobs?x=1#y', '//v1/jobs', '/v1/../v1/jobs', '/%2e%2e/etc/passwd', '/v1/modules/' + 'a'.repeat(3000), '*', '/']
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'CONNECT', 'BREW', 'get']
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/jsonx', 'text/plain', '', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16']

const header = fc.oneof(
  fc.tuple(fc.constant('content-type'), fc.constantFrom(...CONTENT_TYPES)),
  fc.tuple(fc.constant('authorization'), fc.oneof(fc.constantFrom('Bearer ', 'Bearer x', 'Basic Zm9vOmJhcg==', 'bearer ' + 'a'.repeat(64)), fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, '')))),
  fc.tuple(fc.constantFrom('x-forwarded-for', 'accept', 'accept-encoding', 'expect', 'transfer-encoding', 'x-' + 'h'.repeat(50)), fc.constantFrom('gzip', '100-continue', '*/*', 'identity', '127.0.0.1', 'chunked, chunked', 'a'.repeat(2000)))
)

/** A job request as the HTTP API takes it, mutated: its manifest, module, target, peer_id, replicas. */
function jobRequests (): fc.Arbitrary<Uint8Array> {
  const valid = { manifest: f.manifest(), target: 'local', replicas: 0 }
  const enc = new TextEncoder()
  const withModule = fc.constantFrom(HELLO.toString('base64'), 'AGFzbQEAAAA=', '!!!', '=', 'QQ', 'A'.repeat(4000))
  return fc.oneof(
    { arbitrary: hostile(valid).map((b) => freshNonce(b, valid.manifest.nonce as string, f.manifest().nonce as string)), weight: 6 },
    // The manifest itself mutated inside a well-formed request (fresh nonces keep some jobs running).
    { arbitrary: fc.tuple(mutated(f.manifest()), fc.option(withModule), fc.option(fc.oneof(json, fc.constantFrom('remote', 'auto', 'local', '')))).map(([manifest, module, target]) => {
      if (typeof manifest === 'object' && manifest !== null && (manifest as { nonce?: unknown }).nonce === valid.manifest.nonce) (manifest as { nonce: string }).nonce = f.manifest().nonce as string
      return enc.encode(JSON.stringify({ manifest, ...(module !== null ? { module } : {}), ...(target !== null ? { target } : {}) }))
    }), weight: 6 },
    { arbitrary: asText(json).map((t) => enc.encode(t)), weight: 1 },
    { arbitrary: badUtf8, weight: 1 }
  )
}

describe('HTTP API under fuzzing', () => {
  const statuses = new Tally()
  const untyped: string[] = []
  const fivexx: string[] = []
  let unavailable = 0

  function check (res: Response, what: string): void {
    statuses.add(String(res.status))
    // 503 `unavailable` is the typed answer to a job for another node when no peer is connected.
    const noPeer = res.status === 503 && res.body.includes('"code":"unavailable"')
    if (noPeer) unavailable++
    else if (res.status >= 500 || res.status === 0) fivexx.push(`${what} → ${res.status} ${res.body.subarray(0, 120).toString('utf8')}`)
    if (res.status >= 400) {
      const why = typedError(res)
      if (why !== undefined) untyped.push(`${what}: ${why}`)
    }
  }

  afterAll(() => {
    if ((process.env.FUZZ_DEBUG ?? '') !== '') writeFileSync(process.env.FUZZ_DEBUG!, [...fivexx, '----', ...untyped].join('\n'))
    figure('bad input', 'HTTP fuzz inputs', statuses.total, `inputs (seed ${SEED})`)
    figure('bad input', 'HTTP answers by status', statuses.summary())
    figure('bad input', 'HTTP 5xx (other than a typed 503 unavailable: no peer) or no answer', fivexx.length, fivexx.length === 0 ? 'pass' : 'FAIL')
    figure('bad input', 'HTTP typed 503 unavailable (job for another node, none connected)', unavailable)
    figure('bad input', 'HTTP untyped rejections', untyped.length, untyped.length === 0 ? 'pass' : 'FAIL')
  })

  it('answers job requests with random, mutated, deep and non-UTF-8 bodies with a result or a typed 4xx', async () => {
    // Warm-up: the first inputs grow buffers, caches and JIT code; the baseline is taken after them.
    await fc.assert(fc.asyncProperty(jobRequests(), async (body) => {
      check(await raw(request('POST', '/v1/jobs', [['content-type', 'application/json']], body)), 'warm-up')
    }), { seed: SEED + 1, numRuns: 400 })
    await rebase(f)
    const mark = { f: fivexx.length, u: untyped.length }
    await fc.assert(fc.asyncProperty(jobRequests(), fc.constantFrom(...CONTENT_TYPES.slice(0, 3)), async (body, type) => {
      const res = await raw(request('POST', '/v1/jobs', [['content-type', type]], body))
      check(res, `POST /v1/jobs ${Buffer.from(body.subarray(0, 100)).toString('latin1')}`)
    }), params(1300))
    expect(fivexx.slice(mark.f, mark.f + 5)).toEqual([])
    expect(untyped.slice(mark.u, mark.u + 5)).toEqual([])
  }, budget(600_000))

  it('answers every route and method, with random headers, without a 5xx and with typed errors', async () => {
    const mark = { f: fivexx.length, u: untyped.length }
    await fc.assert(fc.asyncProperty(fc.constantFrom(...METHODS), fc.constantFrom(...ROUTES), fc.array(header, { maxLength: 4 }), fc.option(jobRequests()), async (method, path, headers, body) => {
      const res = await raw(request(method, path, headers, body ?? undefined))
      // HEAD answers carry no body; Node itself answers CONNECT and a few malformed forms.
      if (method === 'HEAD' && res.status >= 400) { statuses.add(String(res.status)); return }
      check(res, `${method} ${path.slice(0, 60)} ${JSON.stringify(headers).slice(0, 100)}`)
    }), params(700))
    expect(fivexx.slice(mark.f, mark.f + 5)).toEqual([])
    expect(untyped.slice(mark.u, mark.u + 5)).toEqual([])
  }, budget(600_000))

  it('answers raw garbage instead of an HTTP request with a typed 400 or a closed connection, never a 5xx', async () => {
    const garbage = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 2048 }),
      fc.string({ maxLength: 200 }).map((s) => Buffer.from(`${s}\r\n\r\n`, 'utf8')),
      fc.tuple(fc.constantFrom(...METHODS), fc.string({ maxLength: 100 })).map(([m, junk]) => Buffer.from(`${m} /v1/jobs HTTP/1.1\r\n${junk}\r\n\r\n`, 'utf8')),
      fc.constant(Buffer.from('POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n')),
      fc.constant(Buffer.from('GET /healthz HTTP/1.1\r\n' + 'x-a: b\r\n'.repeat(3000) + '\r\n'))
    )
    const mark = { f: fivexx.length, u: untyped.length }
    await fc.assert(fc.asyncProperty(garbage, async (bytes) => {
      const res = await raw(bytes, true)
      if (res.status === 0) { statuses.add('closed'); return }
      // As above: a HEAD answer carries no body (RFC 9110 §9.3.2), typed or not.
      if (Buffer.from(bytes.subarray(0, 5)).toString('latin1') === 'HEAD ' && res.status >= 400 && res.body.length === 0) { statuses.add(String(res.status)); return }
      check(res, `raw ${Buffer.from(bytes.subarray(0, 80)).toString('latin1')}`)
    }), params(300))
    expect(fivexx.slice(mark.f, mark.f + 5)).toEqual([])
    expect(untyped.slice(mark.u, mark.u + 5)).toEqual([])
  }, budget(600_000))

  it('keeps every process (same pids) and brings discovery\'s memory back within 20% of the start', async () => {
    expect(deadProcesses(f)).toEqual([])
    const { ratio } = await memoryAfter(f, 'HTTP fuzz')
    expect(ratio).toBeLessThanOrEqual(1.2)
    // Still serving.
    const res = await raw(request('POST', '/v1/jobs', [['content-type', 'application/json']], new TextEncoder().encode(JSON.stringify({ manifest: f.manifest() }))))
    expect(res.status).toBe(200)
  }, 60_000)
})
