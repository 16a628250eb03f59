/**
 * The receipt log in a real node (signer, executor and discovery processes): a job id stays
 * used across a restart of the whole node, and no second receipt is signed for it; the signer
 * refuses a different receipt for a job id it signed, whoever asks; a job whose signing failed
 * can be retried; `phase receipts verify-log` checks the live node's log with the node's key.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { SignerService } from '../../services/core/rpc/src/gen/phase/signer/v1/signer_pb.js'
import { ExecutorService } from '../../services/core/rpc/src/gen/phase/executor/v1/executor_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceipt } from '../../services/core/protocol/src/crypto/verify.ts'
import { verifyReceiptLog, readLog } from '../../services/signer/src/index.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { unsignedReceipt } from '../core/receipt-fixture.ts'
import { jobIdOf } from './log-fixture.ts'
import { figure } from '../helpers/figures.ts'

const HELLO = await readFile(join(ROOT, 'examples/hello/hello.wasm'))
const enc = new TextEncoder()
const dec = new TextDecoder()

function manifest (args: string[]): Uint8Array {
  return enc.encode(JSON.stringify({ version: 1, module_hash: contentHash(HELLO), nonce: randomBytes(16).toString('hex'), args }))
}

describe('the receipt log in a node', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  let key: string
  const logDir = (): string => join(node.dir, 'state', 'receipts')
  const signerSocket = (): string => `unix:${join(node.dir, 'run', 'signer.sock')}`

  beforeAll(async () => {
    node = await startTestNode({ executors: 1 })
    client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 64 << 20 })
    key = (await client.getNodeInfo({})).receiptPublicKey
    await client.submitJob({ manifestJson: manifest(['warm']), module: HELLO })
  })

  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  it('refuses a job id as replayed_job after the whole node restarted, and neither runs nor signs it again', async () => {
    const m = manifest(['once'])
    const first = await client.submitJob({ manifestJson: m })
    expect(first.status).toBe('ok')
    for (const name of ['discovery', 'executor-0', 'signer']) await node.stopProcess(name)
    for (const name of ['signer', 'executor-0', 'discovery']) await node.startProcess(name)
    client.close()
    client = createGrpcClient(NodeService, node.grpc, { maxMessageBytes: 64 << 20 })
    await expect(client.submitJob({ manifestJson: m })).rejects.toMatchObject({ code: 'replayed_job' })
    const executor = createGrpcClient(ExecutorService, `unix:${join(node.dir, 'run', 'executors', 'executor-0.sock')}`)
    const signer = createGrpcClient(SignerService, signerSocket())
    try {
      // Refused by discovery's guard, loaded from the signer's log: the job did not run again.
      expect((await executor.getStatus({})).completedJobs).toBe(0n)
      expect((await signer.getStatus({})).signedReceipts).toBe(0n)
    } finally {
      executor.close()
      signer.close()
    }
    expect(node.log('discovery')).toMatch(/"jobIds":[1-9][0-9]*,"msg":"replay guard loaded from the receipt log"/)
    const logged = readLog(logDir()).records.filter((r) => r.entry?.type === 'receipt' && r.entry.job_id === first.jobId)
    expect(logged).toHaveLength(1)
    figure('faults', 'replayed job id after a whole-node restart', 'replayed_job', 'not run, no second receipt')
    // A fresh nonce still runs.
    expect(dec.decode((await client.submitJob({ manifestJson: manifest(['again']) })).stdout)).toBe('niaga\n')
  })

  it('signs no second, different receipt for a job id, whoever asks the signer', async () => {
    const signer = createGrpcClient(SignerService, signerSocket())
    try {
      const jobId = jobIdOf(randomBytes(8).toString('hex'))
      const receipt = unsignedReceipt(key, { job_id: jobId })
      const a = await signer.signReceipt({ receiptJson: enc.encode(JSON.stringify(receipt)) })
      const again = await signer.signReceipt({ receiptJson: enc.encode(JSON.stringify(receipt)) })
      expect(Buffer.from(again.receiptJson)).toEqual(Buffer.from(a.receiptJson))
      await expect(signer.signReceipt({ receiptJson: enc.encode(JSON.stringify({ ...receipt, status: 'exit', exit_code: 1 })) }))
        .rejects.toMatchObject({ code: 'replayed_job' })
      const entries = readLog(logDir()).records.filter((r) => r.entry?.type === 'receipt' && r.entry.job_id === jobId)
      expect(entries).toHaveLength(1)
      figure('bad input', 'signer asked for a second, different receipt for a job id', 'replayed_job', 'one receipt logged')
    } finally {
      signer.close()
    }
  })

  it('releases the job id when signing failed, so the same job can be retried', async () => {
    const m = manifest(['retry me'])
    await node.stopProcess('signer')
    try {
      await expect(client.submitJob({ manifestJson: m })).rejects.toMatchObject({ code: 'unavailable' })
    } finally {
      await node.startProcess('signer')
    }
    const res = await client.submitJob({ manifestJson: m })
    expect(dec.decode(res.stdout)).toBe('em yrter\n')
    await verifyReceipt(res.receiptJson, { publicKey: key })
  })

  it('verify-log checks the live log with the key the node reports', async () => {
    // A receipt of its own, and a head: the signer signs one when it stops.
    await client.submitJob({ manifestJson: manifest(['logged']) })
    try {
      await node.stopProcess('signer')
    } finally {
      await node.startProcess('signer')
    }
    const res = await new Promise<{ code: number, stdout: string, stderr: string }>((resolve) => {
      execFile(join(ROOT, 'bin/phase'), ['receipts', 'verify-log'], { env: { ...node.env, PHASE_API: node.grpc } }, (err, stdout, stderr) => {
        resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr })
      })
    })
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    expect(res.stdout).toMatch(/receipt log verified/)
    const report = verifyReceiptLog(logDir(), { publicKey: key })
    expect(report.heads).toBeGreaterThanOrEqual(1)
    expect(report.receipts).toBeGreaterThanOrEqual(2) // beforeAll's warm-up and this test's
  })
})
