/**
 * Property-based fuzzing of every parser: manifest (v1 and the seed's v0.1 form, with its
 * upgrade), receipt (parse and verification), capability record, node config (file and env),
 * the CLI's argument and address parsing, and RFC 8785 canonical JSON. Every input ends in a
 * value or a typed error (a PhaseError code, or the CLI's UsageError); never anything else.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import fc from 'fast-check'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { parseManifest, jobIdOf, inputsHashOf, manifestStdin, parseReceipt } from '../../services/core/protocol/src/documents/index.ts'
import { canonicalize, canonicalBytes } from '../../services/core/protocol/src/canonical.ts'
import { loadConfig } from '../../services/core/process/src/config.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { verifyReceiptSync } from '../../services/core/protocol/src/crypto/verify.ts'
import { signCapability, verifyCapability, type CapabilityRecord } from '../../services/core/protocol/src/crypto/capability.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { parse, intOption } from '../../cli/src/usage.ts'
import { resolveNode } from '../../cli/src/connect.ts'
import { unsignedReceipt } from '../core/receipt-fixture.ts'
import { figure } from '../helpers/figures.ts'
import { asText, badUtf8, deepText, hostile, json, loneSurrogate, mutated } from './arbitraries.ts'
import { SEED, TOTAL, params } from './fuzz-config.ts'

const enc = new TextEncoder()
const HASH = `sha256:${'ab'.repeat(32)}`
const MANIFEST = { version: 1, module_hash: HASH, nonce: 'cd'.repeat(16), args: ['a', 'b'], env: { K: 'v' }, stdin: 'aGk=', limits: { memory_mb: 16, timeout_ms: 1000, output_bytes: 4096 }, requirements: { runtime: 'v8-wasm', arch: 'x64', min_memory_mb: 16, min_cores: 1 } }
const SEED_MANIFEST = { version: '0.1', module_hash: 'ab'.repeat(32), cpu_cores: 1, memory_mb: 64, timeout_seconds: 5 }

/** Counts inputs per parser for the table. */
const counts = new Map<string, number>()
function count (what: string): void { counts.set(what, (counts.get(what) ?? 0) + 1) }

/** Runs `fn`; a throw must be a PhaseError with one of `codes`. Returns the value or undefined. */
function typed<T> (what: string, codes: readonly string[], fn: () => T): T | undefined {
  count(what)
  try {
    return fn()
  } catch (err) {
    if (!isPhaseError(err) || !codes.includes(err.code)) {
      throw new Error(`${what}: untyped rejection ${(err as Error)?.name}: ${(err as Error)?.message}`.slice(0, 500), { cause: err })
    }
    return undefined
  }
}

afterAll(() => {
  let total = 0
  for (const [what, n] of counts) { figure('bad input', `parser fuzz: ${what}`, n, 'inputs, 0 untyped'); total += n }
  figure('bad input', 'parser fuzz: all parsers', total, `inputs (seed ${SEED}, FUZZ_RUNS ${TOTAL})`)
})

describe('manifest parser', () => {
  it('returns a valid v1 manifest or a typed error for random, mutated, deep and non-UTF-8 input', () => {
    fc.assert(fc.property(fc.oneof(hostile(MANIFEST), hostile(SEED_MANIFEST)), (bytes) => {
      const m = typed('manifest (bytes)', ['invalid_json', 'invalid_manifest'], () => parseManifest(bytes))
      if (m === undefined) return
      // Whatever it accepts can be hashed, canonicalized and read back to the same manifest.
      expect(m.version).toBe(1)
      expect(jobIdOf(m)).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(inputsHashOf(m)).toMatch(/^sha256:[0-9a-f]{64}$/)
      manifestStdin(m)
      expect(parseManifest(canonicalBytes(m))).toEqual(m)
    }), params(1200))
  })

  it('returns a valid manifest or a typed error for mutated values passed as objects (gRPC/HTTP path)', () => {
    fc.assert(fc.property(fc.oneof(mutated(MANIFEST), mutated(SEED_MANIFEST), json), (value) => {
      const m = typed('manifest (value)', ['invalid_json', 'invalid_manifest'], () => parseManifest(value))
      if (m !== undefined) expect(jobIdOf(m)).toMatch(/^sha256:/)
    }), params(600))
  })

  it('refuses a passed-in value whose version JSON cannot write (a cycle, a BigInt) with invalid_manifest (was: TypeError)', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const version of [cyclic, 10n]) {
      expect(() => parseManifest({ ...MANIFEST, version })).toThrow(expect.objectContaining({ code: 'invalid_manifest' }) as unknown as Error)
    }
  })

  it('upgrades every seed v0.1 manifest it accepts into a valid v1 manifest', () => {
    const v01 = fc.record({
      version: fc.constantFrom('0.1', 0.1),
      module_hash: fc.oneof(fc.constant('ab'.repeat(32)), fc.constant(HASH), fc.string({ maxLength: 80 })),
      cpu_cores: fc.oneof(fc.integer({ min: -2, max: 1024 }), fc.double()),
      memory_mb: fc.oneof(fc.integer({ min: -2, max: 1 << 20 }), fc.double()),
      timeout_seconds: fc.oneof(fc.integer({ min: -2, max: 1e9 }), fc.double())
    })
    fc.assert(fc.property(v01, (doc) => {
      const m = typed('manifest v0.1 upgrade', ['invalid_json', 'invalid_manifest'], () => parseManifest(JSON.stringify(doc)))
      if (m === undefined) return
      expect(m.limits?.timeout_ms).toBe(Number(doc.timeout_seconds) * 1000)
      expect(m.nonce).toMatch(/^[0-9a-f]{32}$/)
    }), params(300))
  })
})

describe('receipt parser and verifiers', () => {
  const signer = createReceiptSigner(randomBytes(32))
  const { receipt } = signer.sign(unsignedReceipt(signer.publicKey))

  it('parses or refuses with a typed error, and never verifies a changed receipt', () => {
    const canonical = canonicalize(receipt)
    fc.assert(fc.property(hostile(receipt as unknown as Record<string, unknown>), (bytes) => {
      typed('receipt (parse)', ['invalid_json', 'invalid_receipt'], () => parseReceipt(bytes))
      const ok = typed('receipt (verify, node:crypto)', ['verification_failed'], () => verifyReceiptNode(bytes, { publicKey: signer.publicKey }))
      const portable = typed('receipt (verify, portable)', ['verification_failed'], () => verifyReceiptSync(bytes, { publicKey: signer.publicKey }))
      // Both verifiers agree, and only the signed content itself verifies.
      expect(ok === undefined).toBe(portable === undefined)
      if (ok !== undefined) expect(canonicalize(ok.receipt)).toBe(canonical)
    }), params(800))
  })
})

describe('capability record parser', () => {
  let record: CapabilityRecord
  let peerId: string
  beforeAll(async () => {
    const key = await generateKeyPair('Ed25519')
    peerId = peerIdFromPrivateKey(key).toString()
    record = await signCapability(key, peerId, {
      version: 1, receipt_public_key: 'ef'.repeat(32), runtimes: [{ name: 'v8-wasm', version: '24' }], arch: 'x64', cores: 2, memory_mb: 4096,
      limits: { max_memory_mb: 256, max_timeout_ms: 60000, max_output_bytes: 1 << 22, max_module_bytes: 1 << 26 }, queue_depth: 0, protocols: ['/phase/job/1.0.0']
    })
  })

  it('refuses a record holding a lone surrogate (valid JSON text from a peer) with verification_failed, not a TypeError', async () => {
    // Found at 100,000 inputs: signing bytes cannot be made of such a string (RFC 8785 needs UTF-8).
    const err = await verifyCapability(JSON.stringify({ ...record, arch: '\ud800' }), peerId).then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'verification_failed' })
  })

  it('verifies only the record its peer signed, and refuses anything else with a typed error', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(mutated(record as unknown as Record<string, unknown>), json), async (value) => {
      count('capability record')
      try {
        // As text: canonical where it can be (so the untouched record verifies), else as JSON.stringify writes it.
        let text: string
        try { text = canonicalize(value) ?? '' } catch { text = JSON.stringify(value) ?? '' }
        const r = await verifyCapability(text, peerId)
        expect(canonicalize(r)).toBe(canonicalize(record))
      } catch (err) {
        if (!isPhaseError(err, 'verification_failed')) throw new Error(`capability: untyped rejection ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err })
      }
    }), params(400))
  })
})

describe('config loader', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-fuzz-config-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })
  const VALID = { executors: 2, state_dir: '/tmp/x', log_level: 'info', queue_capacity: 10, api: { http: { host: '127.0.0.1', port: 7780 }, token: 'a'.repeat(32) }, limits: { max_memory_mb: 128, default_memory_mb: 64 }, p2p: { enabled: false, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false } }

  it('loads a config file or names what is wrong (invalid_config), whatever the file holds', async () => {
    let i = 0
    const env = fc.dictionary(fc.constantFrom('PHASE_EXECUTORS', 'PHASE_HTTP_PORT', 'PHASE_HTTP_HOST', 'PHASE_P2P_ENABLED', 'PHASE_LOG_LEVEL', 'PHASE_QUEUE_CAPACITY', 'PHASE_API_TOKEN'),
      fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('0', '1', 'true', '99999999999', '-1', '1e3', '::', '0.0.0.0')), { maxKeys: 3 })
    const text = fc.oneof(asText(mutated(VALID)).map((t) => enc.encode(t)), hostile(VALID), deepText.map((t) => enc.encode(t)), badUtf8)
    await fc.assert(fc.asyncProperty(text, env, async (bytes, vars) => {
      const path = join(dir, `c${i++ % 8}.json`)
      await writeFile(path, bytes)
      const c = typed('config (file + env)', ['invalid_config'], () => loadConfig({ env: { ...vars, HOME: dir }, file: path }))
      if (c !== undefined) expect(Object.isFrozen(c.api)).toBe(true)
    }), params(500))
  })
})

describe('CLI argument parsing', () => {
  const OPTIONS = { json: { type: 'boolean' }, env: { type: 'string', multiple: true }, 'timeout-ms': { type: 'string' }, api: { type: 'string' } } as const
  const arg = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('--', '-', '--json', '--json=1', '--env', '--env=A=B', '--timeout-ms', '--timeout-ms=-1', '--api', '-x', '--no-json', '--api=unix:', '--api=[::1]:99999'), loneSurrogate)

  it('parses arguments or throws a UsageError', () => {
    fc.assert(fc.property(fc.array(arg, { maxLength: 8 }), (args) => {
      count('CLI arguments (parseArgs)')
      try {
        const { values } = parse(args, OPTIONS)
        intOption(values['timeout-ms'], 'timeout-ms')
      } catch (err) {
        expect((err as Error).name).toBe('UsageError')
      }
    }), params(300))
  })

  it('resolves a node address from --api/--token/env or throws a typed error', () => {
    const address = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('unix:', 'unix:/x', 'http://127.0.0.1:1', '127.0.0.1:0', '[::1]:7780', ':::', 'localhost:99999', 'host:port', 'unix:' + 'a'.repeat(200)))
    fc.assert(fc.property(fc.option(address), fc.option(fc.string({ maxLength: 10 })), fc.option(address), (api, token, envApi) => {
      count('CLI node address')
      try {
        resolveNode({ api: api ?? undefined, token: token ?? undefined }, { PHASE_API: envApi ?? undefined, HOME: '/nonexistent' })
      } catch (err) {
        const e = err as { name?: string, exitCode?: number }
        if (!(e.name === 'UsageError' || typeof e.exitCode === 'number' || isPhaseError(err))) throw err
      }
    }), params(200))
  })
})

describe('canonical JSON (RFC 8785)', () => {
  it('gives one form that reads back to the same value, or a TypeError for what JSON cannot carry', () => {
    fc.assert(fc.property(fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(NaN, Infinity, undefined, '\ud800', { a: '\udc00' }, [() => 1])), (value) => {
      count('JCS canonicalize')
      let text: string
      try {
        text = canonicalize(value)
      } catch (err) {
        expect((err as Error).name).toBe('TypeError')
        return
      }
      const back = JSON.parse(text) as unknown
      // -0 is written as 0 (RFC 8785 §3.2.2.3); otherwise the same value, and a fixed point.
      expect(back).toEqual(JSON.parse(JSON.stringify(value)))
      expect(canonicalize(back)).toBe(text)
    }), params(600))
  })
})
