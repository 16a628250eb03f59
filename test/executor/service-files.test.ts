/**
 * The executor's gRPC service carries files both ways: `ExecuteRequest.inputs` reach the guest
 * under /in (each checked against its hash), `ExecuteResponse.outputs` carry what it wrote under
 * /out, and `trap` / `compile_time_us` report the outcome. Real server on a temp unix socket.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GrpcServer, createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { ExecutorService } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { createV8Runtime, createExecutorService, type WasmRuntime } from '../../services/executor/src/index.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'

jest.setTimeout(120_000)
const MiB = 1024 * 1024
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('executor service with files', () => {
  let dir: string
  let runtime: WasmRuntime
  let server: GrpcServer
  let client: GrpcClient<typeof ExecutorService>
  const program = join(ROOT, 'test/programs/c/files.wasm')
  let trapModule: Uint8Array

  beforeAll(async () => {
    // Before the runtime starts: it turns lazy compilation off process-wide, and wabt's own
    // wasm then compiles eagerly with TurboFan (~10 s).
    trapModule = new Uint8Array(await compileWat('(module (memory (export "memory") 1) (func (export "_start") unreachable))'))
    dir = await mkdtemp(join(tmpdir(), 'phase-exec-files-'))
    runtime = createV8Runtime({ workers: 1 })
    await runtime.start()
    server = new GrpcServer({ logger: silentLogger() }, { shutdownGraceMs: 200 }).add(ExecutorService, createExecutorService({ runtime, logger: silentLogger() }))
    client = createGrpcClient(ExecutorService, await server.start(`unix:${join(dir, 'e.sock')}`))
  })
  afterAll(async () => {
    client.close()
    await server.stop()
    await runtime.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const request = (module: Uint8Array, inputs: Array<{ path: string, hash: string, data: Uint8Array }>, args: string[] = []) => ({
    jobId: 'sha256:' + '2'.repeat(64),
    moduleHash: contentHash(module),
    module,
    args,
    env: {},
    stdin: new Uint8Array(),
    inputs,
    limits: { memoryBytes: BigInt(64 * MiB), timeoutMs: 60_000, outputBytes: BigInt(MiB) }
  })

  it('runs a program on an input file and returns its output file, with the compile time on the cold run', async () => {
    const module = new Uint8Array(await readFile(program))
    const data = new TextEncoder().encode('a b\nc\n')
    const res = await client.execute(request(module, [{ path: '/in/x.txt', hash: contentHash(data), data }], ['/in/x.txt', '/out/r.txt']))
    expect(res.status).toBe('ok')
    expect(res.outputs.map((o) => [o.path, text(o.data)])).toEqual([['/out/r.txt', 'lines 2 words 3 bytes 6 stdin ""\nc\na b\n']])
    expect(res.trap).toBe('')
    expect(res.compileTimeUs).toBeGreaterThan(0n)
    const warm = await client.execute(request(module, [{ path: '/in/x.txt', hash: '', data }], ['/in/x.txt', '/out/r.txt']))
    expect(warm.compileTimeUs).toBe(0n)
  })

  it('refuses an input whose bytes do not match its hash (hash_mismatch)', async () => {
    const module = new Uint8Array(await readFile(program))
    await expect(client.execute(request(module, [{ path: '/in/x.txt', hash: contentHash(new Uint8Array([1])), data: new Uint8Array([2]) }])))
      .rejects.toMatchObject({ code: 'hash_mismatch' })
  })

  it.each([
    ['outside /in', '/etc/passwd'],
    ['with ..', '/in/../x'],
    ['with an odd character', '/in/a b'],
    ['too long', '/in/' + 'x'.repeat(252)]
  ])('refuses an input path %s (invalid_argument)', async (_name, path) => {
    const module = new Uint8Array(await readFile(program))
    await expect(client.execute(request(module, [{ path, hash: '', data: new Uint8Array() }]))).rejects.toMatchObject({ code: 'invalid_argument' })
  })

  it('refuses a path given twice or as file and folder, and more than 256 inputs (invalid_argument)', async () => {
    const module = new Uint8Array(await readFile(program))
    const f = (path: string) => ({ path, hash: '', data: new Uint8Array() })
    await expect(client.execute(request(module, [f('/in/a'), f('/in/a')]))).rejects.toMatchObject({ code: 'invalid_argument' })
    await expect(client.execute(request(module, [f('/in/a'), f('/in/a/b')]))).rejects.toMatchObject({ code: 'invalid_argument' })
    await expect(client.execute(request(module, Array.from({ length: 257 }, (_, i) => f(`/in/${i}`))))).rejects.toMatchObject({ code: 'invalid_argument' })
  })

  it('reports the trap reason', async () => {
    const res = await client.execute(request(trapModule, []))
    expect(res).toMatchObject({ status: 'trap', trap: 'unreachable' })
  })
})
