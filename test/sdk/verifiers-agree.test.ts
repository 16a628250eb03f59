/**
 * Every receipt verifier Phase ships, on the same cases, gives the same verdict and names the
 * same failed check: the TS core (portable: WebCrypto, pure-JS fallback, sync; node:crypto), the TS SDK's `verify`,
 * the CLI (`phase verify FILE --key K`, a real subprocess reading the file's exact bytes) and
 * the PHP SDK (`Receipt::verify`, a real php process). The cases: the shared vectors
 * (test/vectors/receipts.v1.json) plus seeded respellings of the valid receipts — whitespace,
 * member order, escapes, number forms, repeated members — each still carrying a signature that
 * is valid over the canonical text, so only the byte check can refuse it.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { verifyReceipt, verifyReceiptSync } from '../../services/core/protocol/src/crypto/verify.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { useEd25519Path, useWebCrypto } from '../../services/core/protocol/src/crypto/ed25519.ts'
import type { VerifyExpectations } from '../../services/core/protocol/src/crypto/checks.ts'
import { canonicalize } from '../../services/core/protocol/src/canonical.ts'
import { jobIdOf, inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { verify as sdkVerify } from '../../sdk/ts/src/index.ts'
import { MANIFEST, VECTORS_FILE } from '../vectors/generate.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { figure } from '../helpers/figures.ts'
import { prng } from '../helpers/prng.ts'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signCapability, verifyCapability } from '../../services/core/protocol/src/crypto/capability.ts'

interface Expect {
  public_key: string
  peer_id?: string
  job?: { job_id?: string, nonce?: string, module_hash?: string, inputs_hash?: string }
  outputs?: { stdout_base64?: string, stderr_base64?: string, files_base64?: Record<string, string> }
}
interface Case { name: string, receipt_json: string, expect: Expect, valid: boolean, failed_check?: string, manifest?: Manifest }
/** 'verified', or the name of the failed check. */
type Verdict = string

const vectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { cases: Case[] }
const RESPELLINGS_PER_VALID_CASE = 60
/** CLI runs are whole processes (~0.8 s each): every vector, and this many respellings. */
const CLI_RESPELLINGS = 12

/**
 * One non-canonical spelling of canonical receipt text `text` (whose document is `doc`). Each
 * kind keeps the document (or, for a repeated member, its last copy) the same.
 */
function respell (text: string, doc: Record<string, unknown>, rnd: () => number, repeatable = ['status', 'exit_code', 'stdout_hash', 'job_id', 'node', 'signature']): { kind: string, text: string } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const structural = structuralPositions(text)
  const kinds: Array<() => { kind: string, text: string }> = [
    () => {
      const at = pick(structural) + 1
      return { kind: 'whitespace', text: text.slice(0, at) + pick([' ', '\n', '\t', '\r', '  ']) + text.slice(at) }
    },
    () => {
      const keys = Object.keys(doc)
      const i = Math.floor(rnd() * (keys.length - 1))
      ;[keys[i], keys[i + 1]] = [keys[i + 1]!, keys[i]!]
      return { kind: 'member order', text: `{${keys.map(k => `${JSON.stringify(k)}:${canonicalize(doc[k])}`).join(',')}}` }
    },
    () => {
      // A \u escape of one plain character inside a string value.
      const strings = [...text.matchAll(/:"([^"\\]+)"/g)]
      const m = pick(strings)
      const at = m.index + 2 + Math.floor(rnd() * m[1]!.length)
      const escaped = `\\u${text.charCodeAt(at).toString(16).padStart(4, '0')}`
      return { kind: 'escape', text: text.slice(0, at) + (rnd() < 0.5 ? escaped : escaped.toUpperCase().replace('\\U', '\\u')) + text.slice(at + 1) }
    },
    () => {
      const numbers = [...text.matchAll(/:(-?\d+)(?=[,}])/g)]
      const m = pick(numbers)
      const n = m[1]!
      const form = pick([`${n}.0`, `${n}e0`, `${n}E+0`, `${n}.00`, ...(n === '0' ? [] : [`${n}0e-1`])])
      return { kind: 'number form', text: text.slice(0, m.index + 1) + form + text.slice(m.index + 1 + n.length) }
    },
    () => {
      // A repeated member placed first, with another value: a first-copy reader is misled.
      const key = pick(repeatable)
      const fake: Record<string, unknown> = {
        status: 'ok', exit_code: 0, stdout_hash: `sha256:${'0'.repeat(64)}`, job_id: `sha256:${'1'.repeat(64)}`, node: { peer_id: 'x', public_key: 'y' }, signature: '0'.repeat(128),
        runtimes: [{ name: 'native', version: '1' }], receipt_public_key: 'ab'.repeat(32), cores: 4096
      }
      return { kind: 'repeated member', text: `{${JSON.stringify(key)}:${canonicalize(fake[key])},${text.slice(1)}` }
    },
    () => ({ kind: 'byte order mark', text: `\uFEFF${text}` })
  ]
  return pick(kinds)()
}

/** Indexes of the structural characters of JSON text outside strings, but for the final '}' (one line feed after it is tolerated). */
function structuralPositions (text: string): number[] {
  const out: number[] = []
  let inString = false
  for (let i = 0; i < text.length - 1; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if ('{}[],:'.includes(c!)) out.push(i)
  }
  return out
}

function allCases (): Array<Case & { kind: string }> {
  const out: Array<Case & { kind: string }> = vectors.cases.map(c => ({ ...c, kind: 'vector' }))
  const rnd = prng(0x9e3779b9)
  for (const c of vectors.cases.filter(v => v.valid && v.receipt_json === canonicalize(JSON.parse(v.receipt_json)))) {
    const doc = JSON.parse(c.receipt_json) as Record<string, unknown>
    for (let i = 0; i < RESPELLINGS_PER_VALID_CASE; i++) {
      const { kind, text } = respell(c.receipt_json, doc, rnd)
      out.push({ ...c, name: `${c.name}~${kind}~${i}`, receipt_json: text, valid: false, failed_check: 'canonical', kind })
    }
  }
  return out
}

const bytes = (b64?: string): Uint8Array | undefined => b64 === undefined ? undefined : new Uint8Array(Buffer.from(b64, 'base64'))
/** The files received, as the map form of `expect.outputs.files` (the vectors test the list form). */
const filesOf = (files?: Record<string, string>): Map<string, Uint8Array> | undefined =>
  files === undefined ? undefined : new Map(Object.entries(files).map(([path, b64]) => [path, bytes(b64)!]))

function expectations (e: Expect): VerifyExpectations {
  return {
    publicKey: e.public_key,
    ...(e.peer_id !== undefined && { peerId: e.peer_id }),
    ...(e.job !== undefined && { job: { jobId: e.job.job_id, nonce: e.job.nonce, moduleHash: e.job.module_hash, inputsHash: e.job.inputs_hash } }),
    ...(e.outputs !== undefined && { outputs: { stdout: bytes(e.outputs.stdout_base64), stderr: bytes(e.outputs.stderr_base64), files: filesOf(e.outputs.files_base64) } })
  }
}

async function verdictOf (run: () => Promise<unknown>): Promise<Verdict> {
  try {
    await run()
    return 'verified'
  } catch (err) {
    const e = err as { code?: string, check?: string }
    if (e.code !== 'verification_failed' || typeof e.check !== 'string') throw err
    return e.check
  }
}

const TS_VERIFIERS: Record<string, (c: Case) => Promise<Verdict>> = {
  'TS core portable (async)': async c => await verdictOf(async () => await verifyReceipt(new TextEncoder().encode(c.receipt_json), expectations(c.expect))),
  'TS core portable (async, WebCrypto path)': async c => {
    useEd25519Path('webcrypto')
    try { return await verdictOf(async () => await verifyReceipt(new TextEncoder().encode(c.receipt_json), expectations(c.expect))) } finally { useEd25519Path('native') }
  },
  'TS core portable (async, pure-JS fallback)': async c => {
    useWebCrypto(false)
    try { return await verdictOf(async () => await verifyReceipt(c.receipt_json, expectations(c.expect))) } finally { useWebCrypto(true) }
  },
  'TS core portable (sync)': async c => await verdictOf(async () => verifyReceiptSync(c.receipt_json, expectations(c.expect))),
  'TS core node:crypto': async c => await verdictOf(async () => verifyReceiptNode(new TextEncoder().encode(c.receipt_json), expectations(c.expect))),
  'TS SDK verify': async c => {
    const e = expectations(c.expect)
    return await verdictOf(async () => await sdkVerify(new TextEncoder().encode(c.receipt_json), {
      expectedKey: e.publicKey, expectedPeerId: e.peerId, expectJob: e.job, outputs: e.outputs
    }))
  }
}

/** `phase verify` on the case written to a file; its verdict from the exit code and what it prints. */
async function cliVerdict (dir: string, c: Case, i: number): Promise<Verdict> {
  const file = (name: string, content: string | Uint8Array): string => {
    const path = join(dir, `${i}-${name}`)
    writeFileSync(path, content)
    return path
  }
  const e = c.expect
  const args = ['verify', file('receipt.json', c.receipt_json), '--key', e.public_key, '--json']
  if (e.peer_id !== undefined) args.push('--peer-id', e.peer_id)
  if (e.job !== undefined) {
    // The vectors' job is the manifest the generator used (the case's own, for input files): the CLI derives it all from the file.
    const manifest = c.manifest ?? MANIFEST
    expect(e.job).toEqual({ job_id: jobIdOf(manifest), nonce: manifest.nonce, module_hash: manifest.module_hash, inputs_hash: inputsHashOf(manifest) })
    args.push('--manifest', file('manifest.json', canonicalize(manifest)))
  }
  if (e.outputs?.stdout_base64 !== undefined) args.push('--stdout', file('stdout', bytes(e.outputs.stdout_base64)!))
  if (e.outputs?.stderr_base64 !== undefined) args.push('--stderr', file('stderr', bytes(e.outputs.stderr_base64)!))
  if (e.outputs?.files_base64 !== undefined) {
    // The folder holds /out/<rel> at <dir>/<rel>, as `phase run --output-dir` writes it.
    const out = join(dir, `${i}-out`)
    mkdirSync(out)
    for (const [path, b64] of Object.entries(e.outputs.files_base64)) {
      const at = join(out, path.slice('/out/'.length))
      mkdirSync(dirname(at), { recursive: true })
      writeFileSync(at, bytes(b64)!)
    }
    args.push('--outputs', out)
  }
  const { code, stdout, stderr } = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
    execFile(join(ROOT, 'bin/phase'), args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
  const out = JSON.parse(stdout) as { verified: boolean, failed_check?: string }
  if (out.verified) {
    expect(code).toBe(0)
    return 'verified'
  }
  expect(code).toBe(1)
  expect(stderr).toContain(`phase: receipt NOT verified: ${out.failed_check}: `)
  return out.failed_check!
}

async function inBatches<T, R> (items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }))
  return out
}

interface CapabilityCase { name: string, record_json: string, peer_id: string, expected: Verdict }

/** A signed capability record, its spellings, and forgeries: the same rule as receipts, checked by the TS core and the PHP SDK. */
async function capabilityCases (now: number): Promise<CapabilityCase[]> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3))
  const other = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(4))
  const peerId = peerIdFromPrivateKey(key).toString()
  const fields = {
    version: 1 as const, receipt_public_key: '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c', runtimes: [{ name: 'v8-wasm', version: '24.21.0' }],
    arch: 'x64', cores: 2, memory_mb: 4096, limits: { max_memory_mb: 256, max_timeout_ms: 30000, max_output_bytes: 1048576, max_module_bytes: 16777216 },
    queue_depth: 0, protocols: ['/phase/job/1.0.0']
  }
  const record = await signCapability(key, peerId, fields, now - 1000)
  const text = canonicalize(record)
  const out: CapabilityCase[] = [
    { name: 'capability: valid', record_json: text, peer_id: peerId, expected: 'verified' },
    { name: 'capability: trailing newline', record_json: `${text}\n`, peer_id: peerId, expected: 'verified' },
    { name: 'capability: JSON.stringify order (what the p2p protocol used to send)', record_json: JSON.stringify(record), peer_id: peerId, expected: 'canonical' },
    { name: 'capability: another peer', record_json: text, peer_id: peerIdFromPrivateKey(other).toString(), expected: 'peer_id' },
    { name: 'capability: signed by another key', record_json: canonicalize(await signCapability(other, peerId, fields, now - 1000)), peer_id: peerId, expected: 'signature' },
    { name: 'capability: receipt key swapped', record_json: canonicalize({ ...record, receipt_public_key: 'ab'.repeat(32) }), peer_id: peerId, expected: 'signature' },
    { name: 'capability: expired', record_json: canonicalize(await signCapability(key, peerId, fields, now - 1000, 1000)), peer_id: peerId, expected: 'expired' },
    { name: 'capability: not JSON', record_json: text.slice(0, 40), peer_id: peerId, expected: 'format' },
    { name: 'capability: an integer past 2^53 (1e+300), signed as such', record_json: canonicalize(await signCapability(key, peerId, { ...fields, memory_mb: 1e300 }, now - 1000)), peer_id: peerId, expected: 'format' },
    { name: 'capability: a fraction', record_json: canonicalize(await signCapability(key, peerId, { ...fields, memory_mb: 1.5 }, now - 1000)), peer_id: peerId, expected: 'format' }
  ]
  const rnd = prng(0x51ed)
  for (let i = 0; i < RESPELLINGS_PER_VALID_CASE; i++) {
    const { kind, text: spelled } = respell(text, record as unknown as Record<string, unknown>, rnd, ['runtimes', 'receipt_public_key', 'cores', 'signature'])
    out.push({ name: `capability~${kind}~${i}`, record_json: spelled, peer_id: peerId, expected: 'canonical' })
  }
  return out
}

describe('capability record verifiers', () => {
  const now = 1_735_689_600_000
  let cases: CapabilityCase[]
  let dir: string

  beforeAll(async () => {
    cases = await capabilityCases(now)
    dir = mkdtempSync(join(tmpdir(), 'phase-agree-cap-'))
  })
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  it('give the same verdict in the TS core and the PHP SDK on every case', async () => {
    const ts: Verdict[] = []
    for (const c of cases) ts.push(await verdictOf(async () => await verifyCapability(new TextEncoder().encode(c.record_json), c.peer_id, now)))
    const file = join(dir, 'cases.json')
    writeFileSync(file, JSON.stringify({ now, cases }))
    const run = spawnSync('php', [join(ROOT, 'test/sdk/verify-capabilities.php'), file], { encoding: 'utf8', timeout: 120_000 })
    expect(`exit ${run.status} ${run.stderr}`).toBe('exit 0 ')
    const php = (JSON.parse(run.stdout) as Array<{ verified: boolean, check: string | null }>).map(o => o.verified ? 'verified' : o.check!)
    const want = cases.map(c => `${c.name}: ${c.expected}`)
    expect(cases.map((c, i) => `${c.name}: ${ts[i]}`)).toEqual(want)
    expect(cases.map((c, i) => `${c.name}: ${php[i]}`)).toEqual(want)
    const invalid = cases.filter(c => c.expected !== 'verified').length
    figure('crypto', 'capability records: TS core and PHP SDK agree', `${cases.filter((c, i) => ts[i] === php[i]).length}/${cases.length}`, ts.every((v, i) => v === php[i]) ? 'pass' : 'FAIL')
    figure('crypto', 'capability records: forged/stale/non-canonical rejected (TS, PHP)', `${(100 * cases.filter((c, i) => c.expected !== 'verified' && ts[i] !== 'verified' && php[i] !== 'verified').length / invalid).toFixed(1)}%`, `${invalid} cases`)
  })
})

describe('receipt verifiers', () => {
  const cases = allCases()
  const expected = (c: Case): Verdict => c.valid ? 'verified' : c.failed_check!
  let dir: string

  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'phase-agree-')) })
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  const cliSample = (): Case[] => [...cases.filter(c => c.kind === 'vector'), ...cases.filter(c => c.kind !== 'vector').filter((_, i, xs) => i % Math.ceil(xs.length / CLI_RESPELLINGS) === 0)]
  /** How each verifier is run over its cases: verdicts by case name. */
  const RUNS = new Map<string, () => Promise<Map<string, Verdict>>>([
    ...Object.entries(TS_VERIFIERS).map(([name, verifier]) => [name, async () => {
      const got: Verdict[] = []
      for (const c of cases) got.push(await verifier(c))
      return new Map(cases.map((c, i) => [c.name, got[i]!]))
    }] as const),
    ['PHP SDK Receipt::verify', async () => {
      const file = join(dir, 'cases.json')
      writeFileSync(file, JSON.stringify({ cases }))
      const run = spawnSync('php', [join(ROOT, 'test/sdk/verify-vectors.php'), file], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 })
      if (run.status !== 0 || run.stderr !== '') throw new Error(`verify-vectors.php: exit ${run.status} ${run.stderr}`)
      const out = JSON.parse(run.stdout) as Array<{ name: string, verified: boolean, check: string | null }>
      return new Map(out.map((o) => [o.name, o.verified ? 'verified' : o.check!]))
    }],
    ['CLI phase verify', async () => {
      const sample = cliSample()
      const got = await inBatches(sample, 3, async (c, i) => await cliVerdict(dir, c, i))
      return new Map(sample.map((c, i) => [c.name, got[i]!]))
    }]
  ])
  /** Each verifier runs once, on first ask: by its own test, or by the agreement test run alone. */
  const runs = new Map<string, Promise<Map<string, Verdict>>>()
  const verdictsOf = async (name: string): Promise<Map<string, Verdict>> => {
    if (!runs.has(name)) runs.set(name, RUNS.get(name)!())
    return await runs.get(name)!
  }
  const asExpected = (over: Case[], got: Map<string, Verdict>): void => {
    expect(over.map((c) => `${c.name}: ${got.get(c.name)}`)).toEqual(over.map(c => `${c.name}: ${expected(c)}`))
  }

  it('has every vector and respellings of every kind to check', () => {
    expect(cases.filter(c => c.kind === 'vector').length).toBe(vectors.cases.length)
    const kinds = new Set(cases.map(c => c.kind))
    for (const kind of ['whitespace', 'member order', 'escape', 'number form', 'repeated member', 'byte order mark']) expect(kinds).toContain(kind)
  })

  for (const name of Object.keys(TS_VERIFIERS)) {
    it(`${name} gives the expected verdict on every case`, async () => {
      asExpected(cases, await verdictsOf(name))
    })
  }

  it('the PHP SDK (a real php process) gives the expected verdict on every case', async () => {
    asExpected(cases, await verdictsOf('PHP SDK Receipt::verify'))
  }, 180_000)

  it('the CLI (phase verify, a real process per case) gives the expected verdict and exit code on every vector and a sample of respellings', async () => {
    asExpected(cliSample(), await verdictsOf('CLI phase verify'))
  }, 600_000)

  it('all agree, and every forged, tampered, replayed or non-canonical case is rejected', async () => {
    const invalid = cases.filter(c => !c.valid).length
    // Every verifier's verdicts (already there when the tests above ran; run here otherwise).
    const verdicts = new Map<string, Map<string, Verdict>>()
    for (const name of RUNS.keys()) verdicts.set(name, await verdictsOf(name))
    for (const [name, got] of verdicts) {
      const ran = cases.filter(c => got.has(c.name))
      const invalidHere = ran.filter(c => !c.valid)
      const rejected = invalidHere.filter(c => got.get(c.name) !== 'verified').length
      const atExpected = invalidHere.filter(c => got.get(c.name) === c.failed_check).length
      figure('crypto', `${name}: cases`, ran.length, 'cases')
      figure('crypto', `${name}: forged/tampered/replayed/non-canonical rejected`, `${(100 * rejected / invalidHere.length).toFixed(1)}%`, `${rejected}/${invalidHere.length}`)
      figure('crypto', `${name}: rejected at the expected check`, `${(100 * atExpected / invalidHere.length).toFixed(1)}%`, `${atExpected}/${invalidHere.length}`)
    }
    // Same verdict, case by case, across every verifier that ran the case (the CLI ran a sample).
    const names = [...verdicts.keys()]
    expect(names.length).toBe(8)
    let agreeing = 0
    for (const c of cases) {
      const seen = new Set(names.map(n => verdicts.get(n)!.get(c.name)).filter(v => v !== undefined))
      if (seen.size === 1) agreeing++
    }
    figure('crypto', `verifiers agreeing (${names.length} verifiers)`, `${agreeing}/${cases.length}`, agreeing === cases.length ? 'pass' : 'FAIL')
    expect(agreeing).toBe(cases.length)
    expect(invalid).toBeGreaterThan(vectors.cases.length)
  }, 600_000)
})
