/**
 * Configuration: embedded defaults, the file, environment overrides, and a refusal that names
 * the wrong key.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { loadConfig, validatedConfigDigests } from '../../services/core/process/src/config.ts'

describe('loadConfig', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-config-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  async function file (doc: unknown, mode = 0o600): Promise<string> {
    const path = join(dir, `${Math.random().toString(16).slice(2)}.json`)
    await writeFile(path, typeof doc === 'string' ? doc : JSON.stringify(doc))
    await chmod(path, mode)
    return path
  }

  it('gives a working node with no file at all', () => {
    const c = loadConfig({ env: { HOME: '/home/op', PHASE_CONFIG: undefined }, uid: 1000 })
    expect(c.executors).toBe(2)
    expect(c.stateDir).toBe('/home/op/.local/state/phase')
    expect(c.api.grpc).toBe('unix:/home/op/.local/state/phase/run/plasmd.sock')
    expect(c.api.http).toEqual({ enabled: true, host: '127.0.0.1', port: 7780, socket: '/home/op/.local/state/phase/run/plasmd-http.sock', tcp: true, allowedHosts: [] })
    expect(c.api).toMatchObject({ token: null, tokenFile: null, requestTimeoutMs: 60_000, headersTimeoutMs: 10_000, minBytesPerSecond: 16384, bodyGraceMs: 10_000, maxConnections: 1024 })
    // The budget holds at least the largest request the API takes.
    expect(c.api.maxBufferedBytes).toBe(128 * 1024 * 1024)
    expect(Object.isFrozen(c.limits)).toBe(true)
    expect(c.p2p).toMatchObject({ enabled: true, mdns: true, bootstrap: [], upnp: false, relayServer: false, privateAddresses: false })
    expect(c.p2p.listen).toEqual(['/ip4/0.0.0.0/udp/4001/quic-v1', '/ip4/0.0.0.0/tcp/4001'])
  })

  it('puts root\'s sockets under /run, where the executor user can reach them, one folder per state folder', () => {
    const a = loadConfig({ env: { HOME: '/root', PHASE_CONFIG: undefined }, uid: 0 })
    const b = loadConfig({ env: { HOME: '/home/other', PHASE_CONFIG: undefined }, uid: 0 })
    expect(a.stateDir).toBe('/root/.local/state/phase')
    expect(a.runtimeDir).toMatch(/^\/run\/phase-[0-9a-f]{8}$/)
    expect(b.runtimeDir).toMatch(/^\/run\/phase-[0-9a-f]{8}$/)
    expect(a.runtimeDir).not.toBe(b.runtimeDir)
    expect(a.api.grpc).toBe(`unix:${a.runtimeDir}/plasmd.sock`)
    // A state folder named on purpose keeps its runtime folder beside it.
    expect(loadConfig({ env: { HOME: '/root', PHASE_CONFIG: undefined, PHASE_STATE_DIR: '/srv/p' }, uid: 0 }).runtimeDir).toBe('/srv/p/run')
  })

  it('reads the file and lets PHASE_* variables override single keys', async () => {
    const path = await file({ executors: 3, state_dir: '/srv/phase', limits: { max_memory_mb: 512 } })
    const c = loadConfig({ env: { PHASE_CONFIG: path, PHASE_EXECUTORS: '4', PHASE_HTTP_PORT: '0' } })
    expect(c.source).toBe(path)
    expect(c.executors).toBe(4)
    expect(c.stateDir).toBe('/srv/phase')
    expect(c.runtimeDir).toBe('/srv/phase/run')
    expect(c.limits.maxMemoryMb).toBe(512)
    expect(c.api.http.port).toBe(0)
  })

  it.each([
    [{ executors: 0 }, '/executors must be >= 1'],
    [{ exectors: 2 }, "unknown field 'exectors'"],
    [{ limits: { max_memory_mb: 'lots' } }, '/limits/max_memory_mb must be integer'],
    [{ limits: { default_timeout_ms: 90000 } }, 'default_timeout_ms (90000) is above /limits/max_timeout_ms'],
    [{ api: { http: { host: '0.0.0.0' } } }, "/api/http/host '0.0.0.0' is not loopback, so /api/token or /api/token_file is required"],
    [{ api: { grpc: '0.0.0.0:7781' } }, "/api/grpc '0.0.0.0:7781' is not loopback, so /api/token or /api/token_file is required"],
    [{ api: { grpc: '[::]:7781' } }, 'is not loopback'],
    [{ api: { token: 'x'.repeat(16), token_file: '/etc/phase/api-token' } }, '/api/token and /api/token_file exclude each other'],
    [{ api: { token_file: '/nonexistent/api-token' } }, '/api/token_file: cannot read /nonexistent/api-token: ENOENT'],
    [{ api: { max_buffered_bytes: 1000 } }, '/api/max_buffered_bytes must be >= 1048576'],
    [{ api: { http: { tcp: true } } }, '/api/http/tcp is true, so /api/token or /api/token_file is required'],
    [{ api: { request_timeout_ms: 5000 } }, '/api/headers_timeout_ms (10000) is above /api/request_timeout_ms (5000)'],
    [{ remote: { executor_share: 1.5 } }, '/remote/executor_share must be <= 1'],
    [{ module_cache: { disk_bytes: -1 } }, '/module_cache/disk_bytes must be >= 0']
  ])('refuses %j naming the key', async (doc, message) => {
    const path = await file(doc)
    expect(() => loadConfig({ env: { PHASE_CONFIG: path } })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining(message) }))
  })

  it('gives remote jobs their own caps, never above the node\'s own', async () => {
    const defaults = loadConfig({ env: { HOME: '/home/op', PHASE_CONFIG: undefined } })
    expect(defaults.remote).toEqual({ maxJobs: 16, executorShare: 0.5, maxTimeoutMs: 10_000, maxMemoryMb: 128 })
    expect(defaults.moduleCache).toEqual({ memoryBytes: 64 * 1024 * 1024, diskBytes: 1024 * 1024 * 1024, compiledBytes: 8 * 1024 * 1024 })
    expect(defaults.poisonQuarantineMs).toBe(600_000)
    const path = await file({ limits: { max_timeout_ms: 5000, default_timeout_ms: 5000, max_memory_mb: 64 }, remote: { max_timeout_ms: 30_000, executor_share: 1 } })
    const c = loadConfig({ env: { PHASE_CONFIG: path } })
    expect(c.remote).toEqual({ maxJobs: 16, executorShare: 1, maxTimeoutMs: 5000, maxMemoryMb: 64 })
  })

  it('refuses malformed JSON, a missing explicit file and a bad environment value', async () => {
    expect(() => loadConfig({ env: { PHASE_CONFIG: join(dir, 'nope.json') } })).toThrow(/cannot read config/)
    const bad = await file('{"executors": 2,')
    expect(() => loadConfig({ env: { PHASE_CONFIG: bad } })).toThrow(/not valid JSON/)
    const ok = await file({})
    expect(() => loadConfig({ env: { PHASE_CONFIG: ok, PHASE_EXECUTORS: 'four' } })).toThrow(/PHASE_EXECUTORS: must be a non-negative integer/)
    expect(() => loadConfig({ env: { PHASE_CONFIG: ok, PHASE_EXECUTORS: '99' } })).toThrow(/\/executors must be <= 64/)
  })

  it('picks the executors\' runtime from executor_runtime (v8 by default) and refuses an unknown one', async () => {
    expect(loadConfig({ env: { HOME: '/home/op', PHASE_CONFIG: undefined }, uid: 1000 }).executorRuntime).toBe('v8')
    const wasmer = await file({ executor_runtime: 'wasmer' })
    expect(loadConfig({ env: { PHASE_CONFIG: wasmer } }).executorRuntime).toBe('wasmer')
    const ok = await file({})
    expect(loadConfig({ env: { PHASE_CONFIG: ok, PHASE_EXECUTOR_RUNTIME: 'wasmer' } }).executorRuntime).toBe('wasmer')
    const bad = await file({ executor_runtime: 'wasmtime' })
    expect(() => loadConfig({ env: { PHASE_CONFIG: bad } })).toThrow(/\/executor_runtime/)
  })

  it('refuses a token in a config file other users can read, and takes it from a 0600 file', async () => {
    const doc = { api: { token: 'correct-horse-battery-staple' } }
    const open = await file(doc, 0o644)
    expect(() => loadConfig({ env: { PHASE_CONFIG: open } })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringMatching(/holds \/api\/token but other users can read it \(mode 644\)/) }))
    expect(loadConfig({ env: { PHASE_CONFIG: await file(doc, 0o640) } }).api.token).toBe('correct-horse-battery-staple')
  })

  it('reads api.token_file when it is closed to other users, and refuses it when it is not', async () => {
    const tokenPath = join(dir, 'api-token')
    await writeFile(tokenPath, '  correct-horse-battery-staple  \nignored\n')
    await chmod(tokenPath, 0o640)
    // The config naming it may stay world-readable: it holds no secret.
    const c = loadConfig({ env: { PHASE_CONFIG: await file({ api: { token_file: tokenPath, grpc: '127.0.0.1:0', http: { host: '0.0.0.0' } } }, 0o644) } })
    expect(c.api).toMatchObject({ token: 'correct-horse-battery-staple', tokenFile: tokenPath })
    const naming = await file({ api: { token_file: tokenPath } })
    await chmod(tokenPath, 0o644)
    expect(() => loadConfig({ env: { PHASE_CONFIG: naming } })).toThrow(/other users can read .*api-token \(mode 644\)/)
    await chmod(tokenPath, 0o600)
    await writeFile(tokenPath, 'short\n')
    expect(() => loadConfig({ env: { PHASE_CONFIG: naming } })).toThrow(/at least 16 characters/)
    await writeFile(tokenPath, 'correct-horse-battery-staple')
    expect(loadConfig({ env: { PHASE_CONFIG: await file({}), PHASE_API_TOKEN_FILE: tokenPath } }).api.token).toBe('correct-horse-battery-staple')
    expect(loadConfig({ env: { PHASE_CONFIG: await file({ api: { token_file: tokenPath } }), PHASE_API_TOKEN: 'from-the-environment-1' } }).api.token).toBe('from-the-environment-1')
  })

  it('needs no token for a public HTTP host when TCP is off (the unix socket only)', async () => {
    const c = loadConfig({ env: { PHASE_CONFIG: await file({ api: { http: { host: '0.0.0.0', tcp: false } } }) } })
    expect(c.api.http.tcp).toBe(false)
    expect(c.api.token).toBeNull()
  })
  it('skips the schema only for the exact documents its starter validated (PHASE_CONFIG_VALIDATED)', async () => {
    const good = { executors: 3 }
    const goodPath = await file(good)
    loadConfig({ env: { PHASE_CONFIG: goodPath } })
    // What ops/ecosystem.config.cjs hands to the node's processes: the digests of what it validated.
    const digest = (doc: unknown): string => createHash('sha256').update(JSON.stringify(doc)).digest('hex')
    expect(validatedConfigDigests().split(',')).toContain(digest(good))
    // Another document (an edited file, a changed environment) is validated whatever the list says.
    const bad = { executors: 3, no_such_key: 1 }
    const badPath = await file(bad)
    expect(() => loadConfig({ env: { PHASE_CONFIG: badPath, PHASE_CONFIG_VALIDATED: `${digest(good)},${'ab'.repeat(32)}` } })).toThrow(expect.objectContaining({ name: 'InvalidConfigError' }))
    expect(() => loadConfig({ env: { PHASE_CONFIG: badPath, PHASE_EXECUTORS: '100', PHASE_CONFIG_VALIDATED: digest(bad) } })).toThrow(expect.objectContaining({ name: 'InvalidConfigError' }))
    // The starter's word is taken for exactly the document it names (no schema compiled here).
    expect(loadConfig({ env: { PHASE_CONFIG: badPath, PHASE_CONFIG_VALIDATED: digest(bad) } }).executors).toBe(3)
  })
})
