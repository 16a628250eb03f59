/**
 * The CLI and the HTTP API against a real node (issue 14, point 4): global options anywhere,
 * `--help` on every command and subcommand, the progress line on a terminal only (a real
 * pseudo-terminal from util-linux `script`, and a pipe), and one naming convention: every JSON
 * answer of the HTTP API and every `--json` of the CLI has snake_case names only.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { ROOT, startTestNode, type TestNode } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { openApiValidator } from '../helpers/openapi.ts'

const PHASE = join(ROOT, 'bin/phase')
const PLASMD = join(ROOT, 'bin/plasmd')
const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
/** Spins until the node's wall-time limit ends it: a job that is surely still running while the CLI waits. */
const SPIN = await compileWat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')

const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }

interface Ran { code: number, stdout: string, stderr: string }

async function run (file: string, args: string[], env: Record<string, string>, input = ''): Promise<Ran> {
  return await new Promise((resolve) => {
    const child = execFile(file, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1, stdout, stderr })
    })
    child.stdin!.end(input)
  })
}

/** Runs `phase ARGS` with a pseudo-terminal as its stdin, stdout and stderr (`script -qec`); returns what the terminal got. */
async function inTerminal (args: string[], env: Record<string, string>, columns?: number): Promise<Ran> {
  const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
  const size = columns === undefined ? '' : `stty cols ${columns}; `
  return await run('script', ['-qec', size + [PHASE, ...args].map(quote).join(' '), '/dev/null'], env)
}

/** Every object key in a JSON document that is not snake_case, with its path. */
function camelKeys (doc: unknown, path = '$'): string[] {
  if (Array.isArray(doc)) return doc.flatMap((v, i) => camelKeys(v, `${path}[${i}]`))
  if (typeof doc !== 'object' || doc === null) return []
  return Object.entries(doc).flatMap(([k, v]) => [...(/^[a-z0-9]+(_[a-z0-9]+)*$/.test(k) ? [] : [`${path}.${k}`]), ...camelKeys(v, `${path}.${k}`)])
}

describe('phase and the HTTP API against a real node', () => {
  let node: TestNode
  /** A second node on the network (loopback), so peers, replicas and network counters have something to show. */
  let peer: TestNode
  /** The environment of a client that does not know where the node is (no PHASE_API, no config). */
  let bare: Record<string, string>
  let key: string
  /** Every HTTP answer of the snake_case test, for the OpenAPI test after it. */
  const http: Array<{ what: string, method: string, path: string, status: number, body: unknown }> = []

  async function fetchJson (method: string, path: string, body?: Buffer | string, type = 'application/json'): Promise<{ status: number, body: unknown }> {
    const [host, port] = [node.http.slice(0, node.http.lastIndexOf(':')), Number(node.http.slice(node.http.lastIndexOf(':') + 1))]
    const res = await new Promise<{ status: number, text: string, type: string }>((resolve, reject) => {
      const req = request({ host, port, method, path, headers: body === undefined ? {} : { 'content-type': type } }, (r) => {
        let text = ''
        r.setEncoding('utf8')
        r.on('data', (d: string) => { text += d })
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text, type: String(r.headers['content-type']) }))
      })
      req.on('error', reject)
      req.end(body)
    })
    expect(res.type).toBe('application/json')
    const parsed = { status: res.status, body: JSON.parse(res.text) as unknown }
    http.push({ what: `${method} ${path.slice(0, 60)} → ${res.status}`, method, path, ...parsed })
    return parsed
  }

  beforeAll(async () => {
    node = await startTestNode({ executors: 1, config: { p2p: P2P } })
    peer = await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [node.p2p[0]!] } } })
    // Both must see each other before replicas can run on two nodes.
    const peers = async (): Promise<number> => (JSON.parse((await run(PHASE, ['peers', '--json'], { ...node.env, PHASE_API: node.grpc })).stdout) as unknown[]).length
    while (await peers() === 0) await new Promise((resolve) => setTimeout(resolve, 200))
    bare = { PATH: node.env.PATH!, HOME: node.dir, PHASE_CONFIG: join(node.dir, 'absent.json') }
    key = (await run(PHASE, ['node', 'key'], { ...node.env, PHASE_API: node.grpc })).stdout.trim()
    await writeFile(join(node.dir, 'hello.wasm'), HELLO)
    await writeFile(join(node.dir, 'spin.wasm'), SPIN)
    // Two nodes and their first connection: generous on a loaded machine.
  }, 180_000)

  afterAll(async () => { await peer?.stop(); await node?.stop() })

  /** Asks the node every kind of HTTP question once (successes and errors); both HTTP tests read the answers. */
  let asked: Promise<void> | undefined
  async function askHttp (): Promise<void> {
    asked ??= (async () => {
      const hash = contentHash(HELLO)
      const manifest = (extra = {}): Record<string, unknown> => ({ version: 1, module_hash: hash, nonce: randomBytes(16).toString('hex'), args: ['x'], ...extra })
      const input = Buffer.from('input bytes')
      const inputHash = contentHash(input)
      await fetchJson('GET', '/healthz')
      await fetchJson('GET', '/v1/node')
      await fetchJson('GET', '/v1/status')
      await fetchJson('GET', `/v1/modules/${hash}`)
      await fetchJson('GET', `/v1/blobs/${inputHash}`)
      await fetchJson('PUT', `/v1/blobs/${inputHash}`, input, 'application/octet-stream')
      await fetchJson('PUT', `/v1/blobs/${'sha256:' + '0'.repeat(64)}`, input, 'application/octet-stream')
      const ok = await fetchJson('POST', '/v1/jobs', JSON.stringify({ manifest: manifest({ inputs: [{ path: '/in/a', hash: inputHash }] }), module: HELLO.toString('base64') }))
      expect(ok.status).toBe(200)
      expect((await fetchJson('POST', '/v1/jobs', JSON.stringify({ manifest: manifest(), replicas: 2 }))).status).toBe(200)
      expect((await fetchJson('POST', '/v1/jobs', JSON.stringify({ manifest: manifest(), target: 'remote' }))).status).toBe(200)
      expect((await fetchJson('GET', '/v1/node')).body).toMatchObject({ network: { peers: 1 } })
      await fetchJson('GET', '/v1/peers')
      await fetchJson('POST', '/v1/jobs', JSON.stringify({ manifest: { version: 1 } }))
      await fetchJson('POST', '/v1/jobs', 'not json')
      await fetchJson('POST', '/v1/jobs', JSON.stringify({ manifest: manifest(), target: 'elsewhere' }))
      await fetchJson('GET', '/v1/jobs')
      await fetchJson('DELETE', `/v1/blobs/${inputHash}`)
      await fetchJson('POST', '/v1/jobs', JSON.stringify({ manifest: manifest(), module: '***' }))
      await fetchJson('POST', '/v1/jobs', JSON.stringify({ manifest: manifest(), extra: 1 }))
      await fetchJson('GET', '/v1/nope')
    })()
    await asked
  }

  describe('global options', () => {
    it('are taken before, between and after the command and its subcommand', async () => {
      for (const args of [['--api', node.grpc, 'node', 'key'], ['node', '--api', node.grpc, 'key'], ['node', 'key', `--api=${node.grpc}`]]) {
        const res = await run(PHASE, args, bare)
        expect({ args, code: res.code, stderr: res.stderr }).toEqual({ args, code: 0, stderr: '' })
        expect(res.stdout).toBe(`${key}\n`)
      }
      const ran = await run(PHASE, ['--api', node.grpc, 'run', join(node.dir, 'hello.wasm'), '--', '--api', 'x'], bare)
      expect(ran.code).toBe(0)
      // After `--` they belong to the module (hello prints its arguments reversed).
      expect(ran.stdout).toBe('x ipa--\n')
    })

    it('are looked up in the node\'s config file without them, which exits 78 when it cannot be read', async () => {
      const res = await run(PHASE, ['node', 'key'], { ...bare, PHASE_CONFIG: join(node.dir, 'missing.json') })
      expect(res.code).toBe(78)
      expect(res.stderr).toContain('cannot read config')
      expect((await run(PHASE, ['node', 'key'], node.env)).stdout).toBe(`${key}\n`)
    })

    it('are a usage error when one lacks its value or is given twice', async () => {
      expect((await run(PHASE, ['node', 'key', '--api'], bare)).code).toBe(64)
      expect((await run(PHASE, ['--api', node.grpc, 'node', 'key', '--api', node.grpc], bare)).code).toBe(64)
    })
  })

  describe('--help', () => {
    const COMMANDS = [['run'], ['verify'], ['node'], ['node', 'key'], ['node', 'info'], ['node', 'status'], ['peers'], ['receipts'], ['receipts', 'verify-log'], ['receipts', 'list']]
    it('prints the usage of every command and subcommand on stdout and exits 0', async () => {
      // Four Node processes at a time: each run is one.
      const runs = COMMANDS.flatMap((cmd) => ['--help', '-h'].map((flag) => ({ cmd, flag })))
      for (let i = 0; i < runs.length; i += 4) {
        await Promise.all(runs.slice(i, i + 4).map(async ({ cmd, flag }) => {
          const res = await run(PHASE, [...cmd, flag], bare)
          expect({ cmd, flag, code: res.code, stderr: res.stderr }).toEqual({ cmd, flag, code: 0, stderr: '' })
          expect(res.stdout).toContain(`phase ${cmd[0]!}`)
          expect(res.stdout).toContain('Global options')
        }))
      }
      const all = await run(PHASE, ['--help'], bare)
      expect(all.code).toBe(0)
      for (const cmd of ['run', 'verify', 'node', 'peers', 'receipts']) expect(all.stdout).toContain(`phase ${cmd}`)
      expect((await run(PHASE, ['help', 'run'], bare)).stdout).toContain('--output-dir')
    })

    it('prints plasmd\'s usage for its own commands', async () => {
      for (const args of [['--help'], ['config', '--help'], ['scale', '--help'], ['config', 'check', '-h']]) {
        const res = await run(PLASMD, args, bare)
        expect({ args, code: res.code, stderr: res.stderr }).toEqual({ args, code: 0, stderr: '' })
        expect(res.stdout).toContain('plasmd config check')
        expect(res.stdout).toContain('plasmd scale')
      }
      // An unknown word is refused, never taken for a start of the node.
      const unknown = await run(PLASMD, ['frob'], bare)
      expect(unknown.code).toBe(64)
      expect(unknown.stderr).toContain("unknown command 'frob'")
    })

    it('says where a moved command went', async () => {
      const res = await run(PHASE, ['config', 'check'], bare)
      expect(res.code).toBe(64)
      expect(res.stderr).toContain('plasmd config')
    })
  })

  describe('progress', () => {
    it('shows bytes sent, the node\'s queue and the elapsed time on a terminal, then erases its line', async () => {
      const res = await inTerminal(['--api', node.grpc, 'run', '--timeout-ms', '2000', join(node.dir, 'spin.wasm')], bare)
      expect(res.code).toBe(124)
      expect(res.stdout).toMatch(/phase: sent 5\d B; waiting for the node/)
      expect(res.stdout).toMatch(/\(it runs 1 jobs, 0 queued\), \d+\.\d s/)
      expect(res.stdout).toMatch(/phase: verifying the receipt, \d+\.\d s/)
      // The line is erased before anything else is written.
      expect(res.stdout).toMatch(/\r\x1b\[2Kphase: job ended with status timeout/)
    })

    it('keeps its line within a narrow terminal, so erasing it leaves nothing behind', async () => {
      const res = await inTerminal(['--api', node.grpc, 'run', '--timeout-ms', '2000', join(node.dir, 'spin.wasm')], bare, 40)
      expect(res.code).toBe(124)
      const drawn = res.stdout.split('\r\x1b[2K').filter((l) => l.startsWith('phase: ') && !l.includes('job ended'))
      expect(drawn.length).toBeGreaterThan(1)
      expect(drawn.filter((l) => l.length > 39)).toEqual([])
    })

    it('never shows in a pipe', async () => {
      const res = await run(PHASE, ['--api', node.grpc, 'run', '--timeout-ms', '2000', join(node.dir, 'spin.wasm')], bare)
      expect(res.code).toBe(124)
      expect(res.stderr).toBe(`phase: job ended with status timeout (receipt signed; job ${/job (sha256:[0-9a-f]{64})/.exec(res.stderr)?.[1] ?? '?'})\n`)
      expect(res.stderr).not.toContain('\x1b')
    })
  })

  describe('GET /v1/peers', () => {
    it('shows the connected peers and their reputation as `phase peers --json` does', async () => {
      await askHttp()
      const cli = JSON.parse((await run(PHASE, ['peers', '--json'], { ...bare, PHASE_API: node.grpc })).stdout) as Array<Record<string, unknown>>
      const res = await fetchJson('GET', '/v1/peers')
      expect(res.status).toBe(200)
      const api = (res.body as { peers: Array<Record<string, unknown>> }).peers
      expect(api).toHaveLength(1)
      // The remote and replicated jobs above ran there: the peer runs jobs, signed receipts, and has a standing.
      expect(api[0]).toMatchObject({ runs_jobs: true, receipt_public_key: expect.stringMatching(/^[0-9a-f]{64}$/) })
      expect(api[0]!.successes).toBeGreaterThanOrEqual(1)
      expect((api[0]!.reputation as { receipts_verified: number }).receipts_verified).toBeGreaterThan(0)
      // Reputation decays with time and latency is smoothed: the rest is the same, name for name.
      const still = (p: Record<string, unknown>): Record<string, unknown> => ({ ...p, reputation: Object.keys(p.reputation as object).sort(), latency_ms: typeof p.latency_ms })
      expect(api.map(still)).toEqual(cli.map(still))
    })
  })

  describe('snake_case', () => {
    it('is every JSON name of the HTTP API, success and error bodies', async () => {
      await askHttp()
      const statuses = new Set(http.map((h) => h.status))
      expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 404, 405]))
      expect(http.filter((h) => h.status >= 400).length).toBeGreaterThanOrEqual(5)
      expect(http.flatMap((h) => camelKeys(h.body).map((k) => `${h.what}: ${k}`))).toEqual([])
    })

    it('validates every HTTP answer, success and error, against the node\'s own OpenAPI document', async () => {
      // Its names are OpenAPI's own (operationId, additionalProperties): not walked for snake_case.
      await askHttp()
      const doc = (await fetchJson('GET', '/v1/openapi.json')).body as Parameters<typeof openApiValidator>[0]
      http.pop()
      const validate = openApiValidator(doc)
      expect(http.length).toBeGreaterThanOrEqual(15)
      expect(http.flatMap((h) => validate(h.method, h.path, h.status, h.body))).toEqual([])
    })

    it('is every name of the CLI\'s --json answers', async () => {
      const env = { ...bare, PHASE_API: node.grpc }
      const receipt = join(node.dir, 'receipt.json')
      const answers: Array<[string, Ran]> = []
      const json = async (args: string[]): Promise<Ran> => { const r = await run(PHASE, args, env); answers.push([args.join(' '), r]); return r }
      expect((await json(['run', '--json', '--receipt', receipt, join(node.dir, 'hello.wasm'), '--', 'hi'])).code).toBe(0)
      expect((await json(['run', '--json', '--replicas', '2', join(node.dir, 'hello.wasm')])).code).toBe(0)
      expect((await json(['run', '--json', '--remote', join(node.dir, 'hello.wasm')])).code).toBe(0)
      await json(['verify', '--json', receipt, '--key', key])
      await json(['verify', '--json', receipt, '--key', 'ab'.repeat(32)])
      await json(['node', 'info'])
      await json(['node', 'status', '--json'])
      await json(['peers', '--json'])
      await json(['receipts', 'list', '--json', '--dir', join(node.dir, 'state', 'receipts')])
      await json(['receipts', 'verify-log', '--json', '--dir', join(node.dir, 'state', 'receipts'), '--key', key])
      const bad: string[] = []
      for (const [what, r] of answers) {
        if (r.stdout === '') continue
        bad.push(...camelKeys(JSON.parse(r.stdout)).map((k) => `phase ${what}: ${k}`))
      }
      expect(answers.filter(([, r]) => r.stdout === '').map(([what, r]) => `${what}: ${r.code} ${r.stderr}`)).toEqual([])
      expect(bad).toEqual([])
    })
  })
})
