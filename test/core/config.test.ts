/**
 * Configuration: embedded defaults, the file, environment overrides, and a refusal that names
 * the wrong key.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../services/core/src/config.ts'

describe('loadConfig', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-config-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  async function file (doc: unknown): Promise<string> {
    const path = join(dir, `${Math.random().toString(16).slice(2)}.json`)
    await writeFile(path, typeof doc === 'string' ? doc : JSON.stringify(doc))
    return path
  }

  it('gives a working node with no file at all', () => {
    const c = loadConfig({ env: { HOME: '/home/op', PHASE_CONFIG: undefined } })
    expect(c.executors).toBe(2)
    expect(c.stateDir).toBe('/home/op/.local/state/phase')
    expect(c.api.grpc).toBe('unix:/home/op/.local/state/phase/run/plasmd.sock')
    expect(c.api.http).toEqual({ enabled: true, host: '127.0.0.1', port: 7780, socket: '/home/op/.local/state/phase/run/plasmd-http.sock' })
    expect(Object.isFrozen(c.limits)).toBe(true)
    expect(c.p2p).toMatchObject({ enabled: true, mdns: true, bootstrap: [], upnp: false, relayServer: false, privateAddresses: false })
    expect(c.p2p.listen).toEqual(['/ip4/0.0.0.0/udp/4001/quic-v1', '/ip4/0.0.0.0/tcp/4001'])
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
    [{ api: { http: { host: '0.0.0.0' } } }, '/api/token is required'],
    [{ remote: { executor_share: 1.5 } }, '/remote/executor_share must be <= 1'],
    [{ module_cache: { disk_bytes: -1 } }, '/module_cache/disk_bytes must be >= 0']
  ])('refuses %j naming the key', async (doc, message) => {
    const path = await file(doc)
    expect(() => loadConfig({ env: { PHASE_CONFIG: path } })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining(message) }))
  })

  it('gives remote jobs their own caps, never above the node\'s own', async () => {
    const defaults = loadConfig({ env: { HOME: '/home/op', PHASE_CONFIG: undefined } })
    expect(defaults.remote).toEqual({ maxJobs: 16, executorShare: 0.5, maxTimeoutMs: 10_000, maxMemoryMb: 128 })
    expect(defaults.moduleCache).toEqual({ memoryBytes: 64 * 1024 * 1024, diskBytes: 1024 * 1024 * 1024 })
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
})
