/**
 * compose/node-info.ts startRuntimeInfo: the node's runtime comes from the first executor that
 * answers, not from executor 0 alone. A real executor process listens as executor 1 while no
 * executor 0 exists (as at start-up, when executor 1 is up first).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startRuntimeInfo } from '../../services/discovery/src/compose/node-info.ts'
import { executorAddress } from '../../services/core/process/src/config.ts'
import { ExecutorService } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { createGrpcClient } from '../../services/core/rpc/src/index.ts'
import { ROOT, NODE } from '../helpers/node-harness.ts'
import { waitFor } from '../helpers/wait-for.ts'
import type { ExecutorView } from '../../services/discovery/src/executors.ts'

let dir: string
let executor: ChildProcess

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phase-runtime-info-'))
  await writeFile(join(dir, 'plasmd.json'), '{}')
  executor = spawn(NODE, [join(ROOT, 'services/executor/src/main.ts')], {
    env: { PATH: process.env.PATH ?? '', PHASE_CONFIG: join(dir, 'plasmd.json'), PHASE_RUNTIME_DIR: dir, PHASE_STATE_DIR: join(dir, 'state'), PHASE_EXECUTOR_INDEX: '1' },
    stdio: 'ignore'
  })
  const probe = createGrpcClient(ExecutorService, executorAddress(dir, 1), { timeoutMs: 1000 })
  try {
    await waitFor(async () => await probe.getStatus({}).then(() => true, () => false), { what: 'executor 1 answering', timeoutMs: 30_000, intervalMs: 100 })
  } finally {
    probe.close()
  }
}, 40_000)

afterAll(async () => {
  const exited = new Promise((resolve) => executor.once('exit', resolve))
  executor.kill('SIGTERM')
  await exited
  await rm(dir, { recursive: true, force: true })
})

const view = (index: number, status?: ExecutorView['status']): ExecutorView => ({ index, up: status !== undefined, state: status !== undefined ? 'up' : 'starting', status, restarts: 0, dispatched: 0 })

describe('startRuntimeInfo', () => {
  it('asks each executor in turn: executor 1 answers while executor 0 does not exist', async () => {
    const part = startRuntimeInfo({ runtimeDir: dir }, { views: () => [view(0), view(1)], size: 2 })
    try {
      expect(await part.runtime()).toEqual({ name: 'v8-wasm', version: expect.stringMatching(/^node-[0-9]/) })
    } finally {
      await part.stop()
    }
  })

  it('executor 0 alone (as before) fails while it is not there', async () => {
    const part = startRuntimeInfo({ runtimeDir: dir })
    try {
      await expect(part.runtime()).rejects.toMatchObject({ code: 'unavailable' })
    } finally {
      await part.stop()
    }
  })

  it("takes an executor's polled status without asking, and keeps what it learnt", async () => {
    let views = [view(0), view(1, { runtimeName: 'polled', runtimeVersion: '9.9' } as ExecutorView['status'])]
    const part = startRuntimeInfo({ runtimeDir: join(dir, 'nowhere') }, { views: () => views, size: 2 })
    try {
      expect(await part.runtime()).toEqual({ name: 'polled', version: '9.9' })
      views = []
      expect(await part.runtime()).toEqual({ name: 'polled', version: '9.9' })
    } finally {
      await part.stop()
    }
  })
})
