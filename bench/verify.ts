/**
 * Receipt verification rate per core (DESIGN §7: portable verification ≥ 10k/s per core): the
 * whole check — bytes → format → canonical → key → Ed25519 — through the portable verifier
 * (WebCrypto Ed25519, and its pure-JS fallback) and the node's node:crypto one, beside the floor
 * of a bare node:crypto Ed25519 verify of the same message. "Per core" is verifications per CPU
 * second of this process (process.cpuUsage counts every thread, WebCrypto's pool included), so
 * a busy machine slows the wall rate more than this figure.
 *
 *   node bench/verify.ts [--quick]
 */
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { createReceiptSigner } from '../services/core/src/crypto/sign.ts'
import { verifyReceipt } from '../services/core/src/crypto/verify.ts'
import { verifyReceiptNode } from '../services/core/src/crypto/verify-node.ts'
import { useWebCrypto } from '../services/core/src/crypto/ed25519.ts'
import { checkBeforeSignature } from '../services/core/src/crypto/checks.ts'
import { RECEIPT_DOMAIN, signingBytes } from '../services/core/src/crypto/domain.ts'
import { printTable, type Row } from './stats.ts'

interface Rate { perCpuSecond: number, perSecond: number }

/** Runs `fn` n times, `inFlight` at a time; rates per CPU second and per wall second. */
async function rate (n: number, inFlight: number, fn: () => unknown): Promise<Rate> {
  for (let i = 0; i < Math.min(500, n); i++) await fn()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let started = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (started++ < n) await fn()
  }))
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { perCpuSecond: n / ((cpu.user + cpu.system) / 1e6), perSecond: n / wall }
}

const fmt = (r: Rate): string => `${(r.perCpuSecond / 1000).toFixed(1)}k/s per core (${(r.perSecond / 1000).toFixed(1)}k/s wall)`

export async function verifyRows (quick: boolean): Promise<Row[]> {
  const n = quick ? 3000 : 20000
  const hash = `sha256:${'ab'.repeat(32)}`
  const signer = createReceiptSigner(randomBytes(32))
  const { canonical, receipt } = signer.sign({
    version: 1, job_id: hash, nonce: 'a'.repeat(32), module_hash: hash, inputs_hash: hash, stdout_hash: hash, stdout_bytes: 13,
    stderr_hash: hash, stderr_bytes: 0, status: 'ok', exit_code: 0, limits: { memory_bytes: 1 << 26, timeout_ms: 5000, output_bytes: 1 << 20 },
    wall_time_us: 50, cpu_time_us: 40, started_at: '2026-11-23T00:00:00.000Z', finished_at: '2026-11-23T00:00:00.000Z',
    node: { peer_id: '12D3KooWCPNHFk6ufYBgFrJ9SWmteZFNRWTeuMPiQx6m19cfqmyp', public_key: signer.publicKey }, runtime: { name: 'v8-wasm', version: 'x' }
  })
  const expect = { publicKey: signer.publicKey }
  const message = signingBytes(RECEIPT_DOMAIN, receipt)
  const signature = Buffer.from(receipt.signature, 'hex')
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(signer.publicKey, 'hex')]), format: 'der', type: 'spki' })
  const floor = await rate(n, 1, () => nodeVerify(null, message, key, signature))
  const floorText = `${(floor.perCpuSecond / 1000).toFixed(1)}k/s bare node:crypto`
  const rows: Row[] = []
  const add = (metric: string, r: Rate, target = ''): void => {
    rows.push({ metric, value: fmt(r), floor: floorText, ratio: `${(r.perCpuSecond / floor.perCpuSecond).toFixed(2)}×`, target })
  }
  add('verify receipts, portable (WebCrypto Ed25519, full checks, 1 in flight)', await rate(n, 1, async () => await verifyReceipt(canonical, expect)), '≥ 10k/s per core')
  add('verify receipts, portable (WebCrypto Ed25519, full checks, 16 in flight)', await rate(n, 16, async () => await verifyReceipt(canonical, expect)), '≥ 10k/s per core')
  const webKey = await crypto.subtle.importKey('raw', Buffer.from(signer.publicKey, 'hex'), { name: 'Ed25519' }, false, ['verify'])
  add('bare WebCrypto Ed25519 verify (no receipt checks)', await rate(n, 1, async () => await crypto.subtle.verify('Ed25519', webKey, signature, message as Uint8Array<ArrayBuffer>)))
  add('receipt checks without the signature (bytes → format → canonical → key)', await rate(n, 1, () => checkBeforeSignature(canonical, expect)))
  add('verify receipts, node:crypto (full checks)', await rate(n, 1, () => verifyReceiptNode(canonical, expect)))
  useWebCrypto(false)
  try {
    add('verify receipts, portable pure-JS fallback (@noble points)', await rate(Math.ceil(n / 20), 1, async () => await verifyReceipt(canonical, expect)))
  } finally {
    useWebCrypto(true)
  }
  return rows
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await verifyRows(process.argv.includes('--quick')))
}
