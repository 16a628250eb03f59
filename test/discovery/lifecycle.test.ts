/**
 * Discovery's start and stop: parts come up in order and go down in reverse, each once; a start
 * that fails halfway stops what it had started (no public socket left answering, no client left
 * connected to an executor), and stop() is safe twice and after a failed start.
 */
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect, type Server } from 'node:net'
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignerService } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { GrpcServer } from '../../services/core/rpc/src/index.ts'
import { loadConfig, type NodeConfig } from '../../services/core/process/src/config.ts'
import { UnavailableError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { startParts, partOf, type Part } from '../../services/discovery/src/compose/parts.ts'
import { createDiscovery } from '../../services/discovery/src/index.ts'

describe('startParts', () => {
  const recorder = (): { log: string[], part: (name: string, fail?: boolean) => Part } => {
    const log: string[] = []
    return {
      log,
      part: (name, fail = false) => partOf(() => { log.push(name); if (fail) throw new Error(`${name} failed to stop`) })
    }
  }

  it('stops the parts a failing step had started, last first, then throws the step\'s error', async () => {
    const { log, part } = recorder()
    const failing = startParts(async (add) => {
      add(part('a'))
      add(part('b'))
      throw Object.assign(new Error('c failed to start'), { code: 'EADDRINUSE' })
    })
    await expect(failing).rejects.toMatchObject({ code: 'EADDRINUSE' })
    expect(log).toEqual(['b', 'a'])
  })

  it('stops each part once, last first, when stop() is called twice', async () => {
    const { log, part } = recorder()
    const started = await startParts(async (add) => { add(part('a')); add(part('b')); return { value: 1 } })
    expect(started.value).toBe(1)
    expect(log).toEqual([])
    await Promise.all([started.stop(), started.stop()])
    await started.stop()
    expect(log).toEqual(['b', 'a'])
  })

  it('stops every part when one part\'s stop fails, then throws that failure', async () => {
    const { log, part } = recorder()
    const started = await startParts(async (add) => { add(part('a')); add(part('b', true)); add(part('c')); return {} })
    await expect(started.stop()).rejects.toMatchObject({ message: 'b failed to stop' })
    expect(log).toEqual(['c', 'b', 'a'])
  })
})

/**
 * A stand-in executor socket: an HTTP/2 server that takes discovery's connection and never
 * answers a call, but shows each connection discovery opens to it.
 */
interface ExecutorSocket {
  server: Http2Server
  open: Set<ServerHttp2Session>
  /** Resolves once discovery has connected. */
  connected: Promise<void>
  /** Resolves when no connection from discovery is left open. */
  allClosed: () => Promise<void>
}

async function executorSocket (path: string): Promise<ExecutorSocket> {
  const open = new Set<ServerHttp2Session>()
  const connected = Promise.withResolvers<void>()
  let onEmpty: (() => void) | undefined
  const server = createHttp2Server()
  server.on('session', (session) => {
    open.add(session)
    connected.resolve()
    session.on('error', () => {})
    session.on('close', () => { open.delete(session); if (open.size === 0) onEmpty?.() })
  })
  await new Promise<void>((resolve) => server.listen(path, resolve))
  const allClosed = async (): Promise<void> => {
    if (open.size === 0) return
    await new Promise<void>((resolve) => { onEmpty = resolve })
  }
  return { server, open, connected: connected.promise, allClosed }
}

/** True when something accepts connections on the unix socket at `path`. */
async function answers (path: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect(path)
    s.on('connect', () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  })
}

describe('DiscoveryNode lifecycle', () => {
  let dir: string
  let run: string
  let executor: ExecutorSocket
  let signer: GrpcServer
  let taken: Server
  const closers: Array<() => Promise<void>> = []

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phase-lifecycle-'))
    run = join(dir, 'run')
    mkdirSync(join(run, 'executors'), { recursive: true })
    executor = await executorSocket(join(run, 'executors', 'executor-0.sock'))
    // The signer's receipt log is asked for once discovery has connected to its executor, so by
    // the time start() goes on past the signer, the executor part has a connection to close.
    const down = async (): Promise<never> => { throw new UnavailableError('not this signer') }
    signer = new GrpcServer({ logger: silentLogger() }).add(SignerService, {
      async listSignedJobs () { await executor.connected; return { jobIds: [], more: false, lastSeq: 0n } },
      getPublicKey: down,
      signReceipt: down,
      getStatus: down
    })
    await signer.start(`unix:${join(run, 'signer.sock')}`)
    taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  })
  afterEach(async () => {
    for (const close of closers.splice(0)) await close()
    await signer?.stop()
    for (const s of executor.open) s.destroy()
    await new Promise((resolve) => executor.server.close(resolve))
    await new Promise((resolve) => taken.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  const config = (httpPort: number): NodeConfig => {
    const file = join(dir, 'plasmd.json')
    writeFileSync(file, JSON.stringify({
      state_dir: join(dir, 'state'),
      runtime_dir: run,
      executors: 1,
      log_level: 'silent',
      api: { token: 'lifecycle-test-token-0123456789abcdef', grpc: `unix:${join(run, 'api.sock')}`, http: { enabled: true, host: '127.0.0.1', port: httpPort, tcp: true, socket: join(run, 'http.sock') } },
      p2p: { enabled: false }
    }), { mode: 0o600 })
    return loadConfig({ file, env: {} })
  }

  it('stops what it had started when the HTTP port is taken, and stop() after is safe twice', async () => {
    const port = (taken.address() as { port: number }).port
    const node = createDiscovery({ logger: silentLogger() }, config(port))
    closers.push(async () => await node.stop())
    await expect(node.start()).rejects.toMatchObject({ code: 'EADDRINUSE' })
    // The gRPC API had started before HTTP failed: it no longer answers.
    expect(await answers(join(run, 'api.sock'))).toBe(false)
    // The executor set's client was closed (its watch with it).
    await executor.allClosed()
    await node.stop()
    await node.stop()
  })

  it('serves once started, stops everything on stop(), is safe to stop twice, and does not start again', async () => {
    const node = createDiscovery({ logger: silentLogger() }, config(0))
    closers.push(async () => await node.stop())
    const addresses = await node.start()
    expect(addresses.grpc).toBe(`unix:${join(run, 'api.sock')}`)
    expect(addresses.http).toMatch(/^127\.0\.0\.1:[0-9]+$/)
    expect(await node.start()).toEqual(addresses)
    expect(await answers(join(run, 'api.sock'))).toBe(true)
    expect(await answers(join(run, 'http.sock'))).toBe(true)
    await Promise.all([node.stop(), node.stop()])
    expect(await answers(join(run, 'api.sock'))).toBe(false)
    expect(await answers(join(run, 'http.sock'))).toBe(false)
    await executor.allClosed()
    await node.stop()
    await expect(node.start()).rejects.toMatchObject({ code: 'unavailable' })
  })

  it('starts nothing when stopped before start(), and then refuses to start', async () => {
    const node = createDiscovery({ logger: silentLogger() }, config(0))
    await node.stop()
    await expect(node.start()).rejects.toMatchObject({ code: 'unavailable' })
    expect(await answers(join(run, 'api.sock'))).toBe(false)
    expect(executor.open.size).toBe(0)
  })
})
