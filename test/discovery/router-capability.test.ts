/**
 * JobRouter: a job this node ran is answered even when its capability record cannot be had at
 * that moment. The record names the runtimes, asked of executor 0; at start-up a first job
 * served by executor 1 while executor 0 was not listening yet lost its answer, and the job id
 * was spent (a retry with the same manifest: replayed_job, for good). The record is left out
 * instead, and the next answer carries it. The same for this node's run among a replicated
 * job's: it is counted as a run, not as a failure.
 */
import { describe, it, expect } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { JobRouter } from '../../services/discovery/src/router.ts'
import { ModuleStore } from '../../services/discovery/src/module-store.ts'
import type { JobResult } from '../../services/discovery/src/jobs.ts'
import type { CapabilityRecord } from '../../services/discovery/src/p2p/index.ts'
import { UnavailableError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { loadConfig } from '../../services/core/process/src/config.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'

const RESULT = { jobId: 'sha256:' + 'ab'.repeat(32), status: 'ok', exitCode: 0, stdout: new Uint8Array([1]), stderr: new Uint8Array(), receiptJson: new Uint8Array([2]), executor: 1 } as unknown as JobResult
const RECORD = { version: 1, peer_id: 'me' } as unknown as CapabilityRecord

describe('JobRouter and the capability record', () => {
  it('answers a job it ran without the record when the record fails, and with it once it is there', async () => {
    let runs = 0
    let recordFails = true
    const debug: string[] = []
    const router = new JobRouter({
      jobs: { run: async () => { runs++; return RESULT } },
      modules: new ModuleStore({ logger: silentLogger() }, {}),
      network: {
        runRemote: async () => { throw new Error('not used') },
        pickPeers: async () => [],
        reportReplicas: () => {},
        capability: async () => { if (recordFails) throw new UnavailableError('No connection established (executor-0.sock)'); return RECORD }
      } as never,
      logger: { debug: (_o: unknown, msg?: string) => { debug.push(String(msg)) } }
    }, { peerId: 'me', limits: loadConfig({ env: {} }).limits })
    for (const target of ['local', 'auto', undefined] as const) {
      const r = await router.run({ manifest: new Uint8Array(), ...(target === undefined ? {} : { target }) })
      expect({ jobId: r.jobId, peerId: r.peerId, capability: r.capability }).toEqual({ jobId: RESULT.jobId, peerId: 'me', capability: undefined })
    }
    expect(runs).toBe(3)
    expect(debug).toEqual(Array(3).fill('capability record not available for a job this node ran'))
    recordFails = false
    expect((await router.run({ manifest: new Uint8Array() })).capability).toBe(RECORD)
  })

  it("counts this node's replica of a replicated job as a run when its record fails", async () => {
    const hello = new Uint8Array(readFileSync(new URL('../../examples/hello/hello.wasm', import.meta.url)))
    const manifest = new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(hello), nonce: 'ab'.repeat(16), args: [] }))
    const router = new JobRouter({
      jobs: { run: async () => RESULT },
      modules: new ModuleStore({ logger: silentLogger() }, {}),
      network: {
        runRemote: async () => ({ ...RESULT, peerId: 'peerB', capability: RECORD }),
        pickPeers: async () => ['peerB'],
        reportReplicas: () => {},
        capability: async () => { throw new UnavailableError('No connection established (executor-0.sock)') }
      } as never,
      logger: silentLogger()
    }, { peerId: 'me', limits: loadConfig({ env: {} }).limits })
    const r = await router.run({ manifest, module: hello, replicas: 2 })
    const mine = r.replicas?.find((o) => o.peerId === 'me')
    expect({ status: mine?.status, errorCode: mine?.errorCode, capability: mine?.capability }).toEqual({ status: 'ok', errorCode: '', capability: undefined })
    expect(r.agreeing).toBe(2)
  })
})
