/**
 * Focused micro-bench of what the receipt log adds to signing one receipt, in process (the
 * whole-node figure is in bench/warm-latency.ts): the signer's handler with the log (default
 * sync policy, and fsync-before-reply) beside bare signing, interleaved in one run.
 * `node bench/receipt-log.ts [N]`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createSignerService } from '../services/signer/src/index.ts'
import { createReceiptSigner } from '../services/core/protocol/src/crypto/sign.ts'
import { silentLogger } from '../services/core/process/src/logger.ts'
import { unsignedReceipt } from '../test/core/receipt-fixture.ts'
import { testKey } from '../test/signer/log-fixture.ts'
import { median, percentile, fmtMs } from './stats.ts'

const N = Number(process.argv[2] ?? 5000)
const dir = await mkdtemp(join(tmpdir(), 'phase-bench-rlog-'))
const key = testKey()
const signer = createReceiptSigner(key.seed)
const enc = new TextEncoder()
const ctx = { signal: new AbortController().signal, metadata: new Map<string, string>(), peer: '' }
const logs = { interval: key.open(join(dir, 'a')), fsync: key.open(join(dir, 'b'), { syncIntervalMs: 0 }) }
const services = {
  interval: createSignerService({ signer, receipts: logs.interval, logger: silentLogger() }),
  fsync: createSignerService({ signer, receipts: logs.fsync, logger: silentLogger() })
}
const times: Record<'bare' | 'interval' | 'fsync', number[]> = { bare: [], interval: [], fsync: [] }
const request = (): { receiptJson: Uint8Array, notAfterUnixMs: bigint } =>
  ({ receiptJson: enc.encode(JSON.stringify(unsignedReceipt(key.publicKey, { job_id: `sha256:${randomBytes(32).toString('hex')}` }))), notAfterUnixMs: 0n })
for (let i = 0; i < N; i++) {
  const a = request()
  let t = performance.now()
  signer.sign(JSON.parse(new TextDecoder().decode(a.receiptJson)))
  times.bare.push(performance.now() - t)
  const b = request()
  t = performance.now()
  await services.interval.signReceipt(b as never, ctx)
  times.interval.push(performance.now() - t)
  if (i % 5 === 0) {
    const c = request()
    t = performance.now()
    await services.fsync.signReceipt(c as never, ctx)
    times.fsync.push(performance.now() - t)
  }
}
for (const [name, t] of Object.entries(times)) process.stdout.write(`${name.padEnd(9)} p50 ${fmtMs(median(t))}  p99 ${fmtMs(percentile(t, 99))}  (n=${t.length})\n`)
process.stdout.write(`log adds p50 ${fmtMs(median(times.interval) - median(times.bare))} (default sync), ${fmtMs(median(times.fsync) - median(times.bare))} (sync_interval_ms 0)\n`)
await logs.interval.close()
await logs.fsync.close()
await rm(dir, { recursive: true, force: true })
