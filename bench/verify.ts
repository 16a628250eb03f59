/**
 * Receipt verification rate per core (DESIGN §7: portable verification ≥ 10k/s per core): the
 * whole check — bytes → format → canonical → key → Ed25519 — through the portable verifier (on
 * Node its native path, node:crypto; pinned to WebCrypto, the browsers' path; pinned to its
 * pure-JS fallback) and the node's own verifier, beside the floor of a bare node:crypto Ed25519
 * verify of the same message with a cached KeyObject — the primitive no verifier can beat. "Per core" is verifications per CPU
 * second of this process (process.cpuUsage counts every thread, WebCrypto's pool included), so
 * a busy machine slows the wall rate more than this figure.
 *
 *   node bench/verify.ts [--quick]
 */
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { createReceiptSigner } from '../services/core/protocol/src/crypto/sign.ts'
import { verifyReceipt } from '../services/core/protocol/src/crypto/verify.ts'
import { verifyReceiptNode } from '../services/core/protocol/src/crypto/verify-node.ts'
import { ed25519Path, useEd25519Path, type Ed25519Path } from '../services/core/protocol/src/crypto/ed25519.ts'
import { checkBeforeSignature } from '../services/core/protocol/src/crypto/checks.ts'
import { RECEIPT_DOMAIN, signingBytes } from '../services/core/protocol/src/crypto/domain.ts'
import { printTable, type Row } from './stats.ts'

interface Rate { perCpuSecond: number, perSecond: number }

/** Runs `fn` n times, `inFlight` at a time; rates per CPU second and per wall second. */
async function rate (n: number, inFlight: number, fn: () => unknown): Promise<Rate> {
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

interface Case {
  metric: string
  /** Share of n per round (the pure-JS path is ~15× slower). */
  share?: number
  inFlight?: number
  target?: string
  /** Runs before each of this case's rounds (pins the Ed25519 path). */
  setup?: () => void
  fn: () => unknown
}

/**
 * Each case's median rate over `rounds` rounds, the cases interleaved within each round and the
 * floor among them, so load from elsewhere on a shared machine falls on all of them alike.
 */
async function measure (cases: Case[], n: number, rounds: number): Promise<Rate[]> {
  const samples: Rate[][] = cases.map(() => [])
  for (const c of cases) { c.setup?.(); for (let i = 0; i < Math.min(500, n); i++) await c.fn() }
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      c.setup?.()
      samples[i]!.push(await rate(Math.ceil(n * (c.share ?? 1) / rounds), c.inFlight ?? 1, c.fn))
    }
  }
  const mid = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return samples.map(xs => ({ perCpuSecond: mid(xs.map(x => x.perCpuSecond)), perSecond: mid(xs.map(x => x.perSecond)) }))
}

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
  const webKey = await crypto.subtle.importKey('raw', Buffer.from(signer.publicKey, 'hex'), { name: 'Ed25519' }, false, ['verify'])
  const portable = ed25519Path()
  const pin = (path: Ed25519Path) => () => { useEd25519Path(path) }
  const full = async (): Promise<unknown> => await verifyReceipt(canonical, expect)
  const cases: Case[] = [
    { metric: 'floor', fn: () => nodeVerify(null, message, key, signature) },
    { metric: `verify receipts, portable (${portable} path, full checks, 1 in flight)`, setup: pin(portable), fn: full, target: '≥ 10k/s per core' },
    { metric: `verify receipts, portable (${portable} path, full checks, 16 in flight)`, setup: pin(portable), inFlight: 16, fn: full, target: '≥ 10k/s per core' },
    { metric: 'verify receipts, node:crypto verifier (verifyReceiptNode, full checks)', fn: () => verifyReceiptNode(canonical, expect) },
    { metric: 'receipt checks without the signature (bytes → format → canonical → key)', fn: () => checkBeforeSignature(canonical, expect) },
    { metric: 'bare WebCrypto Ed25519 verify (no receipt checks, cached CryptoKey)', fn: async () => await crypto.subtle.verify('Ed25519', webKey, signature, message as Uint8Array<ArrayBuffer>) },
    // The browsers' path, pinned: WebCrypto's job per verify costs a promise and a thread-pool hop.
    { metric: 'verify receipts, portable pinned to WebCrypto (browsers\' path, 1 in flight)', setup: pin('webcrypto'), fn: full },
    { metric: 'verify receipts, portable pinned to WebCrypto (browsers\' path, 16 in flight)', setup: pin('webcrypto'), inFlight: 16, fn: full },
    { metric: 'verify receipts, portable pure-JS fallback (@noble points)', setup: pin('js'), share: 1 / 20, fn: full }
  ]
  let rates: Rate[]
  try {
    rates = await measure(cases, n, quick ? 3 : 5)
  } finally {
    useEd25519Path(portable)
  }
  const floor = rates[0]!
  const floorText = `${(floor.perCpuSecond / 1000).toFixed(1)}k/s bare node:crypto`
  return cases.slice(1).map((c, i) => ({
    metric: c.metric,
    value: fmt(rates[i + 1]!),
    floor: floorText,
    ratio: `${(rates[i + 1]!.perCpuSecond / floor.perCpuSecond).toFixed(2)}×`,
    target: c.target ?? ''
  }))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await verifyRows(process.argv.includes('--quick')))
}
