/**
 * The signer service over a real receipt log (in process): the signed-job listing is paged
 * within its bound, a request past its deadline or already cancelled is neither signed nor
 * logged, and the receipt_log config keys are validated at the edge.
 */
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSignerService, type ReceiptLog } from '../../services/signer/src/index.ts'
import { MAX_IDS_PER_PAGE } from '../../services/signer/src/service.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { loadConfig } from '../../services/core/process/src/config.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import type { HandlerContext } from '../../services/core/rpc/src/types.ts'
import { largestReceipt, unsignedReceipt } from '../core/receipt-fixture.ts'
import { MAX_RECEIPT_BYTES } from '../../services/core/protocol/src/documents/receipt.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { testKey, jobIdOf, type TestKey } from './log-fixture.ts'

const enc = new TextEncoder()
const ctx = (signal = new AbortController().signal): HandlerContext => ({ signal, metadata: new Map(), peer: 'test' })

describe('signer service', () => {
  let dir: string
  let key: TestKey
  let log: ReceiptLog
  let service: ReturnType<typeof createSignerService>
  const request = (n: number, notAfterUnixMs = 0n): { receiptJson: Uint8Array, notAfterUnixMs: bigint } =>
    ({ receiptJson: enc.encode(JSON.stringify(unsignedReceipt(key.publicKey, { job_id: jobIdOf(n) }))), notAfterUnixMs })

  // Each test signs into a log of its own: the paging test counts every id in it.
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-signer-svc-'))
    key = testKey()
    log = key.open(join(dir, 'receipts'))
    service = createSignerService({ signer: createReceiptSigner(key.seed), receipts: log, logger: silentLogger() })
  })

  afterEach(async () => {
    await log?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('pages the signed job ids, at most MAX_IDS_PER_PAGE at a time, oldest first', async () => {
    const total = MAX_IDS_PER_PAGE + 100
    for (let i = 0; i < total; i++) await service.signReceipt(request(i) as never, ctx())
    const first = await service.listSignedJobs({ afterSeq: -1n, maxIds: 1_000_000 } as never, ctx())
    expect(first.jobIds).toHaveLength(MAX_IDS_PER_PAGE)
    expect(first.jobIds![0]).toBe(jobIdOf(0))
    expect(first.more).toBe(true)
    const second = await service.listSignedJobs({ afterSeq: first.lastSeq!, maxIds: 0 } as never, ctx())
    expect(second.jobIds).toHaveLength(100)
    expect(second.jobIds!.at(-1)).toBe(jobIdOf(total - 1))
    expect(second.more).toBe(false)
    expect((await service.getStatus({} as never, ctx())).signedReceipts).toBe(BigInt(total))
  })

  it('neither signs nor logs a request past its deadline or already cancelled', async () => {
    await expect(service.signReceipt(request(-1, BigInt(Date.now() - 1)) as never, ctx())).rejects.toMatchObject({ code: 'deadline_exceeded' })
    const aborted = new AbortController()
    aborted.abort()
    await expect(service.signReceipt(request(-2) as never, ctx(aborted.signal))).rejects.toMatchObject({ code: 'deadline_exceeded' })
    expect(log.has(jobIdOf(-1))).toBe(false)
    expect(log.has(jobIdOf(-2))).toBe(false)
    const ok = await service.signReceipt(request(-1, BigInt(Date.now() + 60_000)) as never, ctx())
    expect(ok.signature).toMatch(/^[0-9a-f]{128}$/)
  })

  it('signs and logs the largest receipt the schema allows (256 outputs), which every verifier reads', async () => {
    const receipt = { ...largestReceipt(key.publicKey), job_id: jobIdOf(-3) }
    const signed = await service.signReceipt({ receiptJson: enc.encode(JSON.stringify(receipt)), notAfterUnixMs: 0n } as never, ctx())
    expect(signed.receiptJson!.byteLength).toBeGreaterThan(90 * 1024)
    expect(log.has(jobIdOf(-3))).toBe(true)
    const { receipt: verified } = verifyReceiptNode(signed.receiptJson!, { publicKey: key.publicKey })
    expect(verified.outputs).toHaveLength(256)
  })

  it('refuses receipt_json larger than MAX_RECEIPT_BYTES before parsing it, and receipts whose outputs are unsorted or repeated', async () => {
    const padded = enc.encode(JSON.stringify(unsignedReceipt(key.publicKey, { job_id: jobIdOf(-4) })).padEnd(MAX_RECEIPT_BYTES + 1, ' '))
    await expect(service.signReceipt({ receiptJson: padded, notAfterUnixMs: 0n } as never, ctx()))
      .rejects.toMatchObject({ code: 'invalid_receipt', message: expect.stringContaining(`more than a receipt may take (${MAX_RECEIPT_BYTES})`) })
    const out = (path: string) => ({ path, hash: `sha256:${'a'.repeat(64)}`, bytes: 1 })
    for (const outputs of [[out('/out/b'), out('/out/a')], [out('/out/a'), out('/out/a')]]) {
      const receiptJson = enc.encode(JSON.stringify(unsignedReceipt(key.publicKey, { job_id: jobIdOf(-4), outputs })))
      await expect(service.signReceipt({ receiptJson, notAfterUnixMs: 0n } as never, ctx())).rejects.toMatchObject({ code: 'invalid_receipt', message: expect.stringContaining('/outputs/1') })
    }
    expect(log.has(jobIdOf(-4))).toBe(false)
  })

  it.each([
    [{ receipt_log: { max_bytes: 100 } }, '/receipt_log/max_bytes must be >= 8192'],
    [{ receipt_log: { segment_bytes: 1 << 20, max_bytes: 1 << 20 } }, '/receipt_log/max_bytes (1048576) must be at least 2 × /receipt_log/segment_bytes'],
    [{ receipt_log: { fsync: true } }, "unknown field 'fsync'"]
  ])('refuses the config %j naming the key', async (doc, message) => {
    const path = join(dir, 'plasmd.json')
    await writeFile(path, JSON.stringify(doc))
    expect(() => loadConfig({ env: { PHASE_CONFIG: path } })).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining(message) }))
  })

  it('resolves the receipt_log defaults', async () => {
    const path = join(dir, 'empty.json')
    await writeFile(path, '{}')
    expect(loadConfig({ env: { PHASE_CONFIG: path } }).receiptLog).toEqual({ maxBytes: 64 << 20, segmentBytes: 4 << 20, syncIntervalMs: 100, headIntervalMs: 10_000 })
  })
})
