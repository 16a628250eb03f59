/**
 * ExecutorSet against small fakes of its executor client (no executor process): where a job
 * goes, what happens when its executor dies or freezes with it, how often a job is run again,
 * and what the caller is told (typed errors) when no executor can take it.
 */
import { describe, it, expect, afterEach, jest } from '@jest/globals'
import { getEventListeners } from 'node:events'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from '@bufbuild/protobuf'
import { ExecuteResponseSchema, GetStatusResponseSchema, type ExecuteResponse, type GetStatusResponse } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { CancelledError, ERROR_TABLE, GrpcStatus, PhaseError, QueueFullError, UnavailableError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { ExecutorSet, type ExecuteInit, type ExecutorClient } from '../../services/discovery/src/executors.ts'

type ExecuteRequest = Parameters<ExecutorClient['execute']>[0]
type CallOptions = NonNullable<Parameters<ExecutorClient['execute']>[1]>

/** One fake executor: every call is recorded; `execute`/`status` decide the answers. */
interface FakeExecutor {
  calls: Array<{ request: ExecuteRequest, options: CallOptions }>
  execute: (request: ExecuteRequest, options: CallOptions) => Promise<ExecuteResponse>
  status: () => Promise<GetStatusResponse>
  closed: number
}

const ok = (wallTimeUs = 50_000n): ExecuteResponse => create(ExecuteResponseSchema, { status: 'ok', exitCode: 0n, wallTimeUs, runtimeName: 'fake', runtimeVersion: '1' })
const MODULE = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])
const load = async (): Promise<Uint8Array> => MODULE
let jobs = 0
/** A job of its own module (unknown run time: spread, never packed) unless one is named. */
const job = (moduleHash = `sha256:${(++jobs).toString(16).padStart(64, '0')}`): ExecuteInit => ({
  jobId: `sha256:${(++jobs).toString(16).padStart(64, 'f')}`, moduleHash, args: [], env: {}, stdin: new Uint8Array(), limits: { memoryBytes: 1n << 20n, timeoutMs: 1000, outputBytes: 1024n }
})

/** A call the test ends by hand: resolves `ok` or rejects when told. */
function held (): { promise: Promise<ExecuteResponse>, resolve: () => void, reject: (err: Error) => void } {
  const d = Promise.withResolvers<ExecuteResponse>()
  return { promise: d.promise, resolve: () => d.resolve(ok()), reject: d.reject }
}

let sets: ExecutorSet[] = []
let dirs: string[] = []
afterEach(() => {
  jest.restoreAllMocks()
  for (const s of sets) s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  sets = []
  dirs = []
})

/** A set of `n` fake executors, each answering `ok` until a test says otherwise. */
function fakeSet (n: number): { set: ExecutorSet, executors: FakeExecutor[] } {
  const executors: FakeExecutor[] = Array.from({ length: n }, () => ({
    calls: [],
    execute: async () => ok(),
    status: async () => create(GetStatusResponseSchema, { workers: 1 }),
    closed: 0
  }))
  const connect = (address: string): ExecutorClient => {
    const e = executors[Number(address.slice('fake:'.length))]
    if (e === undefined) throw new Error(`no fake executor at ${address}`)
    return {
      execute: async (request, options = {}) => { e.calls.push({ request, options }); return await e.execute(request, options) },
      getStatus: async () => await e.status(),
      close: () => { e.closed++ }
    }
  }
  const set = new ExecutorSet({ logger: silentLogger(), connect }, { addresses: executors.map((_, i) => `fake:${i}`) })
  sets.push(set)
  return { set, executors }
}

/** Lets the calls already made reach the fakes (microtasks and one turn of the loop; no timer). */
const settle = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))
const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'resolved', (err: { code?: string }) => err.code ?? 'untyped')

describe('ExecutorSet', () => {
  it('sends each job to the executor with the fewest jobs in flight when none is short', async () => {
    const { set, executors } = fakeSet(3)
    const calls = [held(), held(), held(), held()]
    let next = 0
    for (const e of executors) e.execute = async () => await calls[next++]!.promise
    const a = set.execute(job(), load, { timeoutMs: 5000 })
    const b = set.execute(job(), load, { timeoutMs: 5000 })
    const c = set.execute(job(), load, { timeoutMs: 5000 })
    await settle()
    expect(executors.map((e) => e.calls.length)).toEqual([1, 1, 1])
    calls[1]!.resolve()
    expect((await b).executor).toBe(1)
    // Executors 0 and 2 each hold a job, 1 holds none: the next job goes to 1.
    const d = set.execute(job(), load, { timeoutMs: 5000 })
    await settle()
    expect(executors.map((e) => e.calls.length)).toEqual([1, 2, 1])
    calls[0]!.resolve(); calls[2]!.resolve(); calls[3]!.resolve()
    expect((await Promise.all([a, c, d])).map((o) => o.executor)).toEqual([0, 2, 1])
  })

  it('sends the module bytes to an executor only until it has them', async () => {
    const { set, executors } = fakeSet(1)
    const hash = job().moduleHash
    await set.execute(job(hash), load, { timeoutMs: 5000 })
    await set.execute(job(hash), load, { timeoutMs: 5000 })
    expect(executors[0]!.calls.map((c) => c.request.module?.byteLength)).toEqual([MODULE.byteLength, undefined])
  })

  it('runs a job once more on another executor when its executor dies with it', async () => {
    const { set, executors } = fakeSet(2)
    // A connection that dropped while the job ran (not "No connection established"): a death.
    executors[0]!.execute = async () => { throw new UnavailableError('Connection dropped') }
    const outcome = await set.execute(job(), load, { timeoutMs: 5000 })
    expect(outcome.executor).toBe(1)
    expect(executors.map((e) => e.calls.length)).toEqual([1, 1])
    expect(set.views().map((v) => v.state)).toEqual(['down', 'starting'])
  })

  it('moves a job that never reached a dead executor without counting a death', async () => {
    const { set, executors } = fakeSet(3)
    executors[0]!.execute = async () => { throw new UnavailableError('No connection established. Last error: connect ENOENT') }
    executors[1]!.execute = async () => { throw new UnavailableError('Connection dropped') }
    // Never reached 0, died on 1, run again on 2: the one re-run was not spent on executor 0.
    expect((await set.execute(job(), load, { timeoutMs: 5000 })).executor).toBe(2)
    expect(executors.map((e) => e.calls.length)).toEqual([1, 1, 1])
  })

  it('refuses a poison job past its one re-run when two executors die with it, and its module after', async () => {
    const { set, executors } = fakeSet(3)
    for (const e of executors) e.execute = async () => { throw new UnavailableError('Connection dropped') }
    const poison = job()
    await expect(set.execute(poison, load, { timeoutMs: 5000 })).rejects.toMatchObject({ code: 'executor_died', message: expect.stringMatching(/quarantined/) })
    // Run at most twice: the third executor never saw it.
    expect(executors.map((e) => e.calls.length)).toEqual([1, 1, 0])
    expect(await codeOf(set.execute(job(poison.moduleHash), load, { timeoutMs: 5000 }))).toBe('module_quarantined')
    expect(executors.map((e) => e.calls.length)).toEqual([1, 1, 0])
  })

  it('runs a job that fails with an internal error at most once more', async () => {
    const { set, executors } = fakeSet(3)
    for (const e of executors) e.execute = async () => { throw new PhaseError('internal', 'worker lost') }
    expect(await codeOf(set.execute(job(), load, { timeoutMs: 5000 }))).toBe('executor_died')
    expect(executors.map((e) => e.calls.length)).toEqual([1, 1, 0])
  })

  it('answers queue_full (RESOURCE_EXHAUSTED) when every executor is full', async () => {
    const { set, executors } = fakeSet(2)
    for (const e of executors) e.execute = async () => { throw new QueueFullError() }
    const code = await codeOf(set.execute(job(), load, { timeoutMs: 5000 }))
    expect(code).toBe('queue_full')
    expect(ERROR_TABLE.queue_full.grpc).toBe(GrpcStatus.RESOURCE_EXHAUSTED)
    expect(executors.map((e) => e.calls.length)).toEqual([1, 1])
  })

  it('answers unavailable when no executor can be reached', async () => {
    const { set, executors } = fakeSet(2)
    for (const e of executors) e.execute = async () => { throw new UnavailableError('No connection established') }
    expect(await codeOf(set.execute(job(), load, { timeoutMs: 5000 }))).toBe('unavailable')
  })

  it('passes the caller\'s cancellation and deadline on to the executor and runs the job nowhere else', async () => {
    const { set, executors } = fakeSet(2)
    executors[0]!.execute = async (_request, options) => await new Promise((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => reject(new CancelledError()), { once: true })
    })
    const controller = new AbortController()
    const running = set.execute(job(), load, { signal: controller.signal, timeoutMs: 4321 })
    await settle()
    expect(executors[0]!.calls[0]!.options.timeoutMs).toBe(4321)
    expect(executors[0]!.calls[0]!.options.signal?.aborted).toBe(false)
    controller.abort()
    expect(await codeOf(running)).toBe('cancelled')
    expect(executors[0]!.calls[0]!.options.signal?.aborted).toBe(true)
    expect(executors[1]!.calls).toHaveLength(0)
  })

  /** Two executors whose sockets exist; executor 0 takes a job and then freezes: it holds the call and answers no status poll. */
  function withFrozenFirst (): ReturnType<typeof fakeSet> & { runtimeDir: string } {
    const fake = fakeSet(2)
    const runtimeDir = mkdtempSync(join(tmpdir(), 'phase-executor-set-'))
    dirs.push(runtimeDir)
    mkdirSync(join(runtimeDir, 'executors'))
    for (const i of [0, 1]) writeFileSync(join(runtimeDir, 'executors', `executor-${i}.sock`), '')
    fake.executors[0]!.execute = async (_request, options) => await new Promise((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => reject(new CancelledError()), { once: true })
    })
    fake.executors[0]!.status = async () => { throw new UnavailableError('deadline') }
    return { ...fake, runtimeDir }
  }

  it('moves the jobs of an executor that misses two status polls to one that answers', async () => {
    const { set, executors, runtimeDir } = withFrozenFirst()
    const running = set.execute(job(), load, { timeoutMs: 60_000 })
    await settle()
    expect(executors[0]!.calls).toHaveLength(1)
    await set.scan({ runtimeDir })
    expect(executors[1]!.calls).toHaveLength(0)
    await set.scan({ runtimeDir })
    expect((await running).executor).toBe(1)
  })

  it('moves a frozen executor\'s job that carries the caller\'s signal, and leaves no listener on that signal', async () => {
    const { set, executors, runtimeDir } = withFrozenFirst()
    const caller = new AbortController()
    const running = set.execute(job(), load, { signal: caller.signal, timeoutMs: 60_000 })
    await settle()
    await set.scan({ runtimeDir })
    await set.scan({ runtimeDir })
    expect((await running).executor).toBe(1)
    expect(executors[0]!.calls[0]!.options.signal?.aborted).toBe(true)
    expect(caller.signal.aborted).toBe(false)
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0)
  })

  /** withFrozenFirst with a clock the test sets and executor 0's freeze switched by `frozen`. */
  function withSilentFirst (): ReturnType<typeof withFrozenFirst> & { scanAt: (t: number) => Promise<void>, freeze: (on: boolean) => void } {
    const fake = withFrozenFirst()
    let now = 1_000_000
    jest.spyOn(Date, 'now').mockImplementation(() => now)
    let frozen = true
    fake.executors[0]!.status = async () => { if (frozen) throw new UnavailableError('deadline'); return create(GetStatusResponseSchema, { workers: 1 }) }
    return {
      ...fake,
      scanAt: async (t) => { now = 1_000_000 + t; await fake.set.scan({ runtimeDir: fake.runtimeDir }); await settle() },
      freeze: (on) => { frozen = on }
    }
  }
  /** 2 MiB of module: a window of 500 ms (BULK_BYTES_PER_SECOND, 4 MiB/s) from the send. */
  const twoMiB = async (): Promise<Uint8Array> => new Uint8Array(2 * 1024 * 1024)

  it('does not count the time an executor taking in a job\'s bytes stopped answering against that job\'s window, and still moves the job once the window ends', async () => {
    const { set, executors, scanAt, freeze } = withSilentFirst()
    const running = set.execute(job(), twoMiB, { timeoutMs: 60_000 })
    await settle()
    expect(executors[0]!.calls).toHaveLength(1)
    // Silent from 100 (two missed polls inside the window: its job stays), answers at 400.
    await scanAt(100)
    await scanAt(200)
    freeze(false)
    await scanAt(400)
    // Two more missed polls at 600 and 700: past the 500 ms from the send, inside them once the
    // 300 ms it was silent are given back. Its job stays.
    freeze(true)
    await scanAt(600)
    await scanAt(700)
    expect(executors[1]!.calls).toHaveLength(0)
    // Past the window so lengthened: the job moves.
    await scanAt(900)
    expect((await running).executor).toBe(1)
  })

  it('gives the window no more than twice its length, however often its executor falls silent and comes back', async () => {
    const { set, executors, scanAt, freeze } = withSilentFirst()
    const running = set.execute(job(), twoMiB, { timeoutMs: 60_000 })
    await settle()
    // Silent 100-490 (390 ms given back: the window ends at 890), 500-800 (300 more would end it
    // at 1,190; the cap is 1,000 ms past the send). Each time two missed polls inside the window.
    await scanAt(100)
    await scanAt(200)
    await scanAt(400)
    freeze(false)
    await scanAt(490)
    freeze(true)
    await scanAt(500)
    await scanAt(600)
    freeze(false)
    await scanAt(800)
    freeze(true)
    await scanAt(900)
    expect(executors[1]!.calls).toHaveLength(0)
    await scanAt(1_050)
    expect(executors[1]!.calls).toHaveLength(1)
    expect((await running).executor).toBe(1)
  })

  it('ends the window with the freeze it did not prevent: back, the executor gets none of it', async () => {
    const { set, executors, scanAt, freeze } = withSilentFirst()
    // Executor 1 holds what it gets: the next job goes to executor 0, which has none in flight.
    executors[1]!.execute = async (_request, options) => await new Promise((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => reject(new CancelledError()), { once: true })
    })
    void set.execute(job(), twoMiB, { timeoutMs: 60_000 }).catch(() => {})
    await settle()
    // Silent from 100 past the window's end (500): frozen at 600, its job moves.
    await scanAt(100)
    await scanAt(200)
    await scanAt(600)
    expect(executors[1]!.calls).toHaveLength(1)
    // Back at 700 (its 600 silent ms would have reopened the window to 1,000), a small job on it,
    // then two missed polls: it is frozen again and that job moves.
    freeze(false)
    await scanAt(700)
    void set.execute(job(), load, { timeoutMs: 60_000 }).catch(() => {})
    await settle()
    expect(executors[0]!.calls).toHaveLength(2)
    freeze(true)
    await scanAt(800)
    await scanAt(900)
    expect(executors[1]!.calls).toHaveLength(2)
  })

  it('closes every client once when closed', () => {
    const { set, executors } = fakeSet(2)
    set.close()
    expect(executors.map((e) => e.closed)).toEqual([1, 1])
  })
})
