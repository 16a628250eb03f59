/**
 * Generator of test/vectors/receipts.v1.json: the receipt vectors every verifier (TS core, TS
 * SDK, PHP SDK) is tested against (DESIGN §3). Deterministic — fixed seeds, fixed times, and
 * Ed25519 signatures are deterministic — so test/core/vectors.test.ts can prove the committed
 * file is exactly what this script writes now.
 *
 *   node test/vectors/generate.ts        # rewrites receipts.v1.json
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { canonicalize } from '../../services/core/protocol/src/canonical.ts'
import { contentHash } from '../../services/core/protocol/src/hash.ts'
import { jobIdOf, inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import type { UnsignedReceipt } from '../../services/core/protocol/src/documents/receipt.ts'
import { CAPABILITY_DOMAIN, RECEIPT_DOMAIN } from '../../services/core/protocol/src/crypto/domain.ts'
import { hexToBytes } from '../../services/core/protocol/src/crypto/hex.ts'
import { privateKeyFromSeed, publicKeyHex } from '../../services/core/protocol/src/crypto/keys.ts'
import { signDocument } from '../../services/core/protocol/src/crypto/sign.ts'
import { signingBytes } from '../../services/core/protocol/src/crypto/domain.ts'
import { Point } from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'

export const VECTORS_FILE = fileURLToPath(new URL('./receipts.v1.json', import.meta.url))

const seed = (byte: number): Uint8Array => new Uint8Array(32).fill(byte)
const NODE_KEY = privateKeyFromSeed(seed(0x01))
const OTHER_KEY = privateKeyFromSeed(seed(0x02))
const NODE_PUBLIC = publicKeyHex(NODE_KEY)
const OTHER_PUBLIC = publicKeyHex(OTHER_KEY)
/** libp2p identities are separate keys from the receipt key (seeds 0x03 and 0x04). */
const peerIdOfSeed = (byte: number): string =>
  peerIdFromPublicKey(publicKeyFromRaw(hexToBytes(publicKeyHex(privateKeyFromSeed(seed(byte))), 32)!)).toString()
const PEER_ID = peerIdOfSeed(0x03)
const OTHER_PEER_ID = peerIdOfSeed(0x04)

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')

const MODULE = utf8('phase test vector module v1')
export const MANIFEST: Manifest = {
  version: 1,
  module_hash: contentHash(MODULE),
  nonce: '000102030405060708090a0b0c0d0e0f',
  args: ['Hello, World']
}
const STDOUT = utf8('Hello, World\n')
const STDERR = utf8('warning: exit code 3\n')

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

interface Expect {
  public_key: string
  peer_id?: string
  /** Same names as the receipt fields (and the failed checks). */
  job?: { job_id?: string, nonce?: string, module_hash?: string, inputs_hash?: string }
  /** `files_base64`: the files received from /out, base64 by guest path (`/out/<rel>`) — exactly the receipt's `outputs` to pass. */
  outputs?: { stdout_base64?: string, stderr_base64?: string, files_base64?: Record<string, string> }
}

interface VectorCase {
  name: string
  description: string
  /** The manifest the verifier sent, when it is not the file's `manifest` (cases about input files): `expect.job` derives from it. */
  manifest?: Json
  /** The receipt as built (an object), or the raw text when the case is about its spelling. For readers: verifiers take `receipt_json`. */
  receipt: Json
  /**
   * The receipt as the exact text a verifier receives (the HTTP API's `receipt_json`): JCS of
   * `receipt`, or the raw text when `receipt` is a string. Every verifier checks this text.
   */
  receipt_json: string
  expect: Expect
  valid: boolean
  failed_check?: string
}

function unsigned (fields: Partial<UnsignedReceipt> = {}, stdout: Uint8Array = STDOUT, stderr: Uint8Array = new Uint8Array()): UnsignedReceipt {
  return {
    version: 1,
    job_id: jobIdOf(MANIFEST),
    nonce: MANIFEST.nonce,
    module_hash: MANIFEST.module_hash,
    inputs_hash: inputsHashOf(MANIFEST),
    stdout_hash: contentHash(stdout),
    stdout_bytes: stdout.byteLength,
    stderr_hash: contentHash(stderr),
    stderr_bytes: stderr.byteLength,
    status: 'ok',
    exit_code: 0,
    limits: { memory_bytes: 67108864, timeout_ms: 5000, output_bytes: 1048576 },
    wall_time_us: 1234,
    cpu_time_us: 987,
    started_at: '2025-01-01T00:00:00.000Z',
    finished_at: '2025-01-01T00:00:00.001Z',
    node: { peer_id: PEER_ID, public_key: NODE_PUBLIC },
    runtime: { name: 'v8-wasm', version: '24.21.0' },
    ...fields
  }
}

/** Signs whatever it is given — the generator must be able to sign bad documents too. */
function signed (doc: object, key = NODE_KEY, domain = RECEIPT_DOMAIN): Json {
  return { ...doc, signature: signDocument(domain, doc, key) } as Json
}

/** Everything a verifier knows about the honest job; cases override one part. */
function expectAll (overrides: Partial<Expect> = {}, stdout: Uint8Array = STDOUT, stderr: Uint8Array = new Uint8Array()): Expect {
  return {
    public_key: NODE_PUBLIC,
    peer_id: PEER_ID,
    job: { job_id: jobIdOf(MANIFEST), nonce: MANIFEST.nonce, module_hash: MANIFEST.module_hash, inputs_hash: inputsHashOf(MANIFEST) },
    outputs: { stdout_base64: b64(stdout), stderr_base64: b64(stderr) },
    ...overrides
  }
}

const asText = (receipt: Json): string => typeof receipt === 'string' ? receipt : canonicalize(receipt)
const OVERSIZED_PADDING = 128 * 1024
const ok = (name: string, description: string, receipt: Json, expect: Expect): VectorCase =>
  ({ name, description, receipt, receipt_json: asText(receipt), expect, valid: true })
const bad = (name: string, description: string, receipt: Json, expect: Expect, check: string): VectorCase =>
  ({ name, description, receipt, receipt_json: asText(receipt), expect, valid: false, failed_check: check })

function cases (): VectorCase[] {
  const good = signed(unsigned()) as Record<string, Json>
  const exitStderr = unsigned({ status: 'exit', exit_code: 3 }, STDOUT, STDERR)
  const sig = good.signature as string
  const other = (fields: Partial<UnsignedReceipt>, key = NODE_KEY) => signed(unsigned(fields), key)
  return [
    ok('valid_ok', 'A well-formed receipt of a successful job; every expectation matches.', good, expectAll()),
    ok('valid_exit_stderr', 'Non-zero exit (status "exit", exit_code 3) with stderr output.', signed(exitStderr), expectAll({}, STDOUT, STDERR)),
    ok('valid_trap_escapes', 'Trap (exit_code -1, no output); runtime strings need JCS escaping and non-ASCII UTF-8. Only the key is expected.',
      signed(unsigned({ status: 'trap', exit_code: -1, runtime: { name: 'v8-wasm ✓ π €', version: '24.21.0/"rc"\\\t\u0001' } }, new Uint8Array())),
      { public_key: NODE_PUBLIC }),
    ok('valid_exit_u32_max', 'proc_exit(0xFFFFFFFF): the exit code is the WASI u32, carried whole (4294967295).',
      signed(unsigned({ status: 'exit', exit_code: 4294967295 })), expectAll()),
    bad('exit_code_above_u32', 'exit_code 2^32 is no WASI exit code (signed all the same): refused by the schema.',
      signed(unsigned({ status: 'exit', exit_code: 4294967296 })), expectAll(), 'format'),
    bad('tampered_exit_code', 'exit_code changed from 0 to 1 after signing.', { ...good, exit_code: 1 }, expectAll(), 'signature'),
    bad('tampered_stdout', 'The stdout bytes received (same length) differ from those the receipt hashed.', good,
      expectAll({ outputs: { stdout_base64: b64(utf8('Hello, Wörld')), stderr_base64: '' } }), 'stdout_hash'),
    bad('truncated_stdout', 'Fewer stdout bytes received than the receipt counts.', good,
      expectAll({ outputs: { stdout_base64: b64(STDOUT.subarray(0, 5)) } }), 'stdout_hash'),
    bad('tampered_stderr', 'stderr bytes received where the receipt says there were none.', good,
      expectAll({ outputs: { stdout_base64: b64(STDOUT), stderr_base64: b64(STDERR) } }), 'stderr_hash'),
    bad('wrong_key_named', 'Validly signed by another key, which the receipt names: not the key the verifier expects.',
      other({ node: { peer_id: PEER_ID, public_key: OTHER_PUBLIC } }, OTHER_KEY), expectAll(), 'key'),
    bad('wrong_key_claimed', 'Signed by another key but naming the expected key.', other({}, OTHER_KEY), expectAll(), 'signature'),
    bad('expected_key_malformed', 'The verifier was given an uppercase key: keys are 64 lowercase hex digits.', good,
      expectAll({ public_key: NODE_PUBLIC.toUpperCase() }), 'key'),
    bad('wrong_peer_id', 'The receipt names another node identity than the one dialed.', good, expectAll({ peer_id: OTHER_PEER_ID }), 'peer_id'),
    bad('other_domain', 'Signed with the capability prefix "phase-capability:v1:" instead of "phase-receipt:v1:".',
      signed(unsigned(), NODE_KEY, CAPABILITY_DOMAIN), expectAll(), 'signature'),
    bad('wrong_job_id', 'A genuine receipt for another job.', other({ job_id: contentHash(utf8('another manifest')) }), expectAll(), 'job_id'),
    bad('replayed_nonce', 'A genuine receipt for an earlier run of the same job (old nonce) replayed.',
      other({ nonce: 'ffeeddccbbaa99887766554433221100' }), expectAll(), 'nonce'),
    bad('wrong_module_hash', 'A genuine receipt that ran another module.', other({ module_hash: contentHash(utf8('another module')) }), expectAll(), 'module_hash'),
    bad('wrong_inputs_hash', 'A genuine receipt for other inputs.', other({ inputs_hash: contentHash(utf8('other inputs')) }), expectAll(), 'inputs_hash'),
    bad('truncated_signature', 'Signature cut to 126 hex digits.', { ...good, signature: sig.slice(0, 126) }, expectAll(), 'format'),
    bad('non_hex_signature', 'Signature with a non-hex digit.', { ...good, signature: `${sig.slice(0, 127)}g` }, expectAll(), 'format'),
    bad('uppercase_signature', 'Signature in uppercase hex: the format is lowercase only.', { ...good, signature: sig.toUpperCase() }, expectAll(), 'format'),
    bad('missing_signature', 'An unsigned receipt.', unsigned() as unknown as Json, expectAll(), 'format'),
    bad('unknown_field', 'An extra top-level field (signed along with the rest): unknown fields are rejected.',
      signed({ ...unsigned(), extra: 'x' }), expectAll(), 'format'),
    bad('float_field', 'A fractional number where an integer is required (signed along with the rest).',
      signed({ ...unsigned(), wall_time_us: 1234.5 }), expectAll(), 'format'),
    bad('not_json', 'The receipt is JSON text that does not parse.', '{"version":1,"job_id":', expectAll(), 'format'),
    ...spellings(good, signed(exitStderr) as Record<string, Json>),
    ...forgeries(),
    ...fileCases()
  ]
}

const L = 2n ** 252n + 27742317777372353535851937790883648493n
const le = (bytes: Uint8Array): bigint => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n)
const le32 = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
/** A point of order 8 (libsodium's blacklist): added to a key or R, it is invisible to a cofactored check. */
const T8 = Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a')

/** The secret scalar of an RFC 8032 seed, reduced mod L (the same point, the same signatures). */
function scalarOf (seedBytes: Uint8Array): bigint {
  const h = sha512(seedBytes).slice(0, 32)
  h[0]! &= 248
  h[31]! &= 127
  h[31]! |= 64
  return le(h) % L
}

/** Ed25519 signature with a chosen R = [r]B + extraR, for a key A = [a]B (+ torsion): what a dishonest signer can produce. */
function forge (doc: object, a: bigint, publicKey: Uint8Array, r: bigint, extraR?: Point): { signature: string, k: bigint } {
  let R = r === 0n ? Point.ZERO : Point.BASE.multiply(r)
  if (extraR !== undefined) R = R.add(extraR)
  const rBytes = R.toBytes()
  const k = le(sha512(new Uint8Array([...rBytes, ...publicKey, ...signingBytes(RECEIPT_DOMAIN, doc)]))) % L
  const S = (r + k * a) % L
  return { signature: hex(rBytes) + hex(le32(S)), k }
}

/**
 * Signatures that only a strict verifier refuses — the edge cases where Ed25519 libraries
 * differ. Phase's rule is libsodium's (services/core/protocol/src/crypto/ed25519.ts); every verifier must
 * refuse each of these at the signature check.
 */
function forgeries (): VectorCase[] {
  const a = scalarOf(seed(0x01))
  const nodeKey = hexToBytes(NODE_PUBLIC, 32)!
  if (hex(Point.BASE.multiply(a).toBytes()) !== NODE_PUBLIC) throw new Error('scalarOf disagrees with node:crypto')
  const doc = unsigned()
  // S + L: the same signature with an unreduced S (malleability).
  const honest = signDocument(RECEIPT_DOMAIN, doc, NODE_KEY)
  const sPlusL = honest.slice(0, 64) + hex(le32(le(Buffer.from(honest.slice(64), 'hex')) + L))
  // R = identity, S = k·a: [S]B − [k]A is the identity, so a cofactorless check without libsodium's small-order R test accepts it.
  const identityR = forge(doc, a, nodeKey, 0n)
  // R = [r]B + T8: the cofactored equation ignores T8, the cofactorless one does not.
  const torsionR = forge(doc, a, nodeKey, le(sha512(new Uint8Array([1]))) % L, T8)
  // A key with a torsion component, A = [a]B + T8, signed with a: a cofactored check accepts; one with k·T8 ≠ 0 is refused cofactorless.
  const mixedKey = Point.BASE.multiply(a).add(T8).toBytes()
  const mixedDoc = unsigned({ node: { peer_id: PEER_ID, public_key: hex(mixedKey) } })
  let mixed: { signature: string, k: bigint } | undefined
  for (let i = 2; mixed === undefined || mixed.k % 8n === 0n; i++) mixed = forge(mixedDoc, a, mixedKey, le(sha512(new Uint8Array([i]))) % L)
  const smallKey = `01${'00'.repeat(31)}`
  return [
    bad('malleated_s', 'The valid signature with S + L in place of S (not reduced): refused, not reduced.', { ...doc, signature: sPlusL } as unknown as Json, expectAll(), 'signature'),
    bad('small_order_key', 'Names and is checked against a small-order key (the identity) with R = identity, S = 0: valid for any message under a cofactorless check that does not refuse such keys.',
      { ...unsigned({ node: { peer_id: PEER_ID, public_key: smallKey } }), signature: `01${'00'.repeat(63)}` } as unknown as Json, { public_key: smallKey }, 'signature'),
    bad('small_order_r', 'R is the identity and S = k·a: [S]B − [k]A = R holds, so OpenSSL alone accepts it; libsodium refuses a small-order R.',
      { ...doc, signature: identityR.signature } as unknown as Json, expectAll(), 'signature'),
    bad('torsion_r', 'R = [r]B + T (T of order 8), S = r + k·a: a cofactored check ([8]…) accepts it, the cofactorless one refuses.',
      { ...doc, signature: torsionR.signature } as unknown as Json, expectAll(), 'signature'),
    bad('mixed_order_key', 'The key A = [a]B + T (T of order 8) is not small order; signed with a and k·T ≠ 0, a cofactored check accepts, the cofactorless one refuses.',
      { ...mixedDoc, signature: mixed.signature } as unknown as Json, { public_key: hex(mixedKey) }, 'signature')
  ]
}

/** Files a job wrote under /out, by guest path. */
const FILES: Record<string, Uint8Array> = {
  '/out/data/result.csv': utf8('word,count\nhello,1\nworld,1\n'),
  '/out/empty': new Uint8Array(),
  '/out/report.txt': utf8('Hello, World\nπ ≈ 3.14159\n')
}
const outputsOf = (files: Record<string, Uint8Array>) => Object.keys(files).sort().map(path => ({ path, hash: contentHash(files[path]!), bytes: files[path]!.byteLength }))
const filesB64 = (files: Record<string, Uint8Array>): Record<string, string> => Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b64(b)]))
/** The honest job with input files: two files under /in, named by hash. */
const INPUT_CSV = utf8('word\nhello\nworld\n')
const INPUT_MANIFEST: Manifest = {
  ...MANIFEST,
  nonce: '101112131415161718191a1b1c1d1e1f',
  inputs: [{ path: '/in/words.csv', hash: contentHash(INPUT_CSV) }, { path: '/in/config/opts.json', hash: contentHash(utf8('{"sep":","}')) }]
}
const FUEL_MANIFEST: Manifest = { ...MANIFEST, nonce: '202122232425262728292a2b2c2d2e2f', profile: 'deterministic', limits: { fuel: 5000000 } }
const jobOf = (m: Manifest): Expect['job'] => ({ job_id: jobIdOf(m), nonce: m.nonce, module_hash: m.module_hash, inputs_hash: inputsHashOf(m) })
const forJob = (m: Manifest, fields: Partial<UnsignedReceipt> = {}, stdout = STDOUT): UnsignedReceipt =>
  unsigned({ job_id: jobIdOf(m), nonce: m.nonce, inputs_hash: inputsHashOf(m), ...fields }, stdout)

/**
 * Input and output files, fuel, the deterministic profile, trap reasons and compile time: the
 * issue-12 members of a receipt, and the `outputs` check of the files a client received.
 */
function fileCases (): VectorCase[] {
  const plain = signed(unsigned())
  const withFiles = signed(unsigned({ outputs: outputsOf(FILES) }))
  const expectFiles = (files: Record<string, Uint8Array>): Expect => expectAll({ outputs: { stdout_base64: b64(STDOUT), stderr_base64: '', files_base64: filesB64(files) } })
  const fuelFields: Partial<UnsignedReceipt> = {
    limits: { memory_bytes: 67108864, timeout_ms: 5000, output_bytes: 1048576, fuel: 5000000 },
    fuel_used: 1234567,
    profile: 'deterministic'
  }
  const fuelExpect: Expect = { ...expectAll(), job: jobOf(FUEL_MANIFEST), outputs: { stdout_base64: b64(STDOUT), files_base64: filesB64(FILES) } }
  const inputExpect: Expect = { ...expectAll(), job: jobOf(INPUT_MANIFEST) }
  const changedInput: Manifest = { ...INPUT_MANIFEST, inputs: [{ path: '/in/words.csv', hash: contentHash(utf8('word\nhello\nworld!\n')) }, INPUT_MANIFEST.inputs![1]!] }
  const trap = (reason: UnsignedReceipt['trap']) => signed(unsigned({ status: 'trap', exit_code: -1, trap: reason }, new Uint8Array()))
  const trapExpect = expectAll({ outputs: { stdout_base64: '', stderr_base64: '' } })
  const many = Array.from({ length: 257 }, (_, i) => ({ path: `/out/${String(i).padStart(3, '0')}`, hash: contentHash(new Uint8Array()), bytes: 0 }))
  const [first, second, third] = outputsOf(FILES)
  const manifestJson = (m: Manifest): Json => m as unknown as Json
  return [
    ok('valid_outputs', 'Three files written under /out (one empty, one in a subfolder), listed sorted by path; every file received matches its size and hash.', withFiles, expectFiles(FILES)),
    ok('valid_no_outputs_none_received', 'A job that wrote no file: the receipt has no "outputs" and the verifier received none (an empty set of files checks).', plain, expectFiles({})),
    { ...ok('valid_input_files', 'A job with two input files: inputs_hash covers the manifest\'s inputs (sorted by path) as a fourth member.',
      signed(forJob(INPUT_MANIFEST)), inputExpect), manifest: manifestJson(INPUT_MANIFEST) },
    { ...ok('valid_fuel_deterministic', 'A metered job in the deterministic profile: limits.fuel, fuel_used and profile "deterministic", with output files.',
      signed(forJob(FUEL_MANIFEST, { ...fuelFields, outputs: outputsOf(FILES) })), fuelExpect), manifest: manifestJson(FUEL_MANIFEST) },
    ok('valid_fuel_exhausted', 'Status fuel_exhausted: the whole budget spent (fuel_used = limits.fuel), no exit.',
      signed(unsigned({ status: 'fuel_exhausted', exit_code: -1, limits: { memory_bytes: 67108864, timeout_ms: 5000, output_bytes: 1048576, fuel: 1000 }, fuel_used: 1000 })), expectAll()),
    ok('valid_metered_timeout', 'A deterministic (metered) job killed at its time limit: limits.fuel states the budget, fuel_used is absent (the count is not known).',
      signed(unsigned({ status: 'timeout', exit_code: -1, limits: { memory_bytes: 67108864, timeout_ms: 5000, output_bytes: 1048576, fuel: 5000000 }, profile: 'deterministic' })), expectAll()),
    ok('valid_trap_stack_overflow', 'A trap with its reason: stack_overflow.', trap('stack_overflow'), trapExpect),
    ok('valid_trap_unreachable', 'A trap with its reason: unreachable.', trap('unreachable'), trapExpect),
    ok('valid_trap_memory_out_of_bounds', 'A trap with its reason: memory_out_of_bounds.', trap('memory_out_of_bounds'), trapExpect),
    ok('valid_compile_time', 'A cold executor: compile_time_us reported apart from wall_time_us.', signed(unsigned({ compile_time_us: 877000 })), expectAll()),
    bad('output_tampered', 'One output file received with the same size but other bytes than the receipt hashed.', withFiles,
      expectFiles({ ...FILES, '/out/report.txt': utf8('Hello, World\nπ ≈ 3.14158\n') }), 'outputs'),
    bad('output_truncated', 'One output file received shorter than the receipt says.', withFiles,
      expectFiles({ ...FILES, '/out/data/result.csv': FILES['/out/data/result.csv']!.subarray(0, 10) }), 'outputs'),
    bad('output_missing', 'A file the receipt lists was not received.', withFiles,
      expectFiles({ '/out/data/result.csv': FILES['/out/data/result.csv']!, '/out/report.txt': FILES['/out/report.txt']! }), 'outputs'),
    bad('output_extra', 'A file received that the receipt does not list.', withFiles,
      expectFiles({ ...FILES, '/out/extra.txt': utf8('not from the job') }), 'outputs'),
    bad('outputs_none_received', 'The receipt lists three files; none was received.', withFiles, expectFiles({}), 'outputs'),
    bad('output_unlisted_when_none', 'A file received for a job whose receipt lists no outputs.', plain,
      expectFiles({ '/out/report.txt': FILES['/out/report.txt']! }), 'outputs'),
    bad('stdout_checked_before_outputs', 'Both stdout and an output file differ from the receipt: stdout_hash comes first.', withFiles,
      expectAll({ outputs: { stdout_base64: b64(utf8('Hello, Wörld')), files_base64: filesB64({ ...FILES, '/out/empty': utf8('x') }) } }), 'stdout_hash'),
    bad('outputs_tampered_after_signing', 'An output\'s hash in the receipt changed after signing (to match other bytes).',
      { ...withFiles as Record<string, Json>, outputs: [first, second, { ...third!, hash: contentHash(utf8('forged')) }] } as unknown as Json, expectFiles(FILES), 'signature'),
    bad('outputs_unsorted', 'Outputs not sorted by path (signed as such): a receipt lists its files in one order only.',
      signed(unsigned({ outputs: [third!, first!, second!] })), expectFiles(FILES), 'format'),
    bad('outputs_duplicate_path', 'One path listed twice with different contents (signed as such): which one would the client trust?',
      signed(unsigned({ outputs: [first!, { ...first!, hash: contentHash(utf8('other')), bytes: 5 }] })), expectAll(), 'format'),
    bad('outputs_too_many', '257 outputs (signed as such): at most 256 files.', signed(unsigned({ outputs: many })), expectAll(), 'format'),
    bad('output_path_escapes', 'An output path with ".." (signed as such): paths are plain segments under /out.',
      signed(unsigned({ outputs: [{ ...first!, path: '/out/../etc/passwd' }] })), expectAll(), 'format'),
    bad('output_outside_out', 'An output path under /in (signed as such): outputs live under /out.',
      signed(unsigned({ outputs: [{ ...first!, path: '/in/words.csv' }] })), expectAll(), 'format'),
    bad('trap_with_status_ok', 'A trap reason on a receipt whose status is ok (signed as such): trap is only for status trap.',
      signed(unsigned({ trap: 'unreachable' })), expectAll(), 'format'),
    bad('unknown_trap_reason', 'A trap reason outside the list (signed as such).',
      signed(unsigned({ status: 'trap', exit_code: -1, trap: 'segfault' as never }, new Uint8Array())), { public_key: NODE_PUBLIC }, 'format'),
    bad('fuel_used_unmetered', 'fuel_used without limits.fuel (signed as such): only a metered job counts fuel.',
      signed(unsigned({ fuel_used: 10 })), expectAll(), 'format'),

    bad('deterministic_unmetered', 'Profile deterministic without limits.fuel (signed as such): the deterministic profile is always metered.',
      signed(unsigned({ profile: 'deterministic' })), expectAll(), 'format'),
    bad('fuel_exhausted_unmetered', 'Status fuel_exhausted without limits.fuel (signed as such): only a metered job runs out of fuel.',
      signed(unsigned({ status: 'fuel_exhausted', exit_code: -1 })), expectAll(), 'format'),
    bad('default_profile_named', 'profile "default" (signed as such): the default profile is stated by leaving "profile" out.',
      signed(unsigned({ profile: 'default' as never })), expectAll(), 'format'),
    { ...bad('input_file_changed', 'A receipt for this job whose inputs hash names another version of one input file (a node that ran it on other bytes): the inputs hash covers each input file\'s hash.',
      signed(forJob(INPUT_MANIFEST, { inputs_hash: inputsHashOf(changedInput) })), inputExpect, 'inputs_hash'), manifest: manifestJson(INPUT_MANIFEST) },
    { ...bad('input_files_dropped', 'A receipt whose inputs hash leaves the input files out (a node that ran the job without them).',
      signed(forJob(INPUT_MANIFEST, { inputs_hash: inputsHashOf(MANIFEST) })), inputExpect, 'inputs_hash'), manifest: manifestJson(INPUT_MANIFEST) }
  ]
}

/**
 * One document, other spellings: the same signed receipt written as JSON that parses to it (or,
 * with a repeated member, to something a reader may take for it) but is not its canonical form.
 * The signature stays valid over the canonical text; only the byte check can refuse them.
 */
function spellings (good: Record<string, Json>, failedJob: Record<string, Json>): VectorCase[] {
  const text = canonicalize(good)
  const failedText = canonicalize(failedJob)
  const escapes = signed(unsigned({ status: 'trap', exit_code: -1, runtime: { name: 'v8-wasm ✓ π €', version: '24.21.0/"rc"\\\t\u0001' } }, new Uint8Array()))
  const escapesText = canonicalize(escapes)
  const exitExpect = expectAll({}, STDOUT, STDERR)
  const once = (haystack: string, needle: string, replacement: string): string => {
    if (haystack.split(needle).length !== 2) throw new Error(`expected exactly one ${needle}`)
    return haystack.replace(needle, replacement)
  }
  return [
    ok('trailing_newline', 'The canonical text followed by one line feed (as files end): tolerated by every verifier, it changes no reading.', `${text}\n`, expectAll()),
    bad('pretty_printed', 'The valid receipt pretty-printed (2-space indent).', JSON.stringify(good, null, 2), expectAll(), 'canonical'),
    bad('reordered_members', 'The valid receipt with its members in construction order, not sorted.', JSON.stringify(good), expectAll(), 'canonical'),
    bad('reordered_nested_members', 'Only the members of "limits" out of order.', once(text, '"limits":{"memory_bytes":67108864,"output_bytes":1048576,"timeout_ms":5000}', '"limits":{"timeout_ms":5000,"memory_bytes":67108864,"output_bytes":1048576}'), expectAll(), 'canonical'),
    bad('space_after_colon', 'One space after one colon.', once(text, '"exit_code":0', '"exit_code": 0'), expectAll(), 'canonical'),
    bad('leading_space', 'A space before the document.', ` ${text}`, expectAll(), 'canonical'),
    bad('trailing_crlf', 'A CR LF after the document (only one bare line feed is tolerated).', `${text}\r\n`, expectAll(), 'canonical'),
    bad('two_trailing_newlines', 'Two line feeds after the document.', `${text}\n\n`, expectAll(), 'canonical'),
    bad('byte_order_mark', 'A UTF-8 byte order mark (U+FEFF) before the canonical text.', `\uFEFF${text}`, expectAll(), 'canonical'),
    bad('escaped_plain_character', 'A plain ASCII letter written as a \\u escape ("\\u0076" for "v").', once(text, '"v8-wasm"', '"\\u00768-wasm"'), expectAll(), 'canonical'),
    bad('escaped_non_ascii', 'A non-ASCII character written as a \\u escape ("\\u03c0" for "π"); JCS writes it as UTF-8.', once(escapesText, 'π', '\\u03c0'), { public_key: NODE_PUBLIC }, 'canonical'),
    bad('escaped_solidus', 'A "/" written as "\\/", which JCS never escapes.', once(escapesText, '24.21.0/', '24.21.0\\/'), { public_key: NODE_PUBLIC }, 'canonical'),
    bad('long_escape_for_tab', 'A tab written as "\\u0009" where JCS writes "\\t".', once(escapesText, '\\t', '\\u0009'), { public_key: NODE_PUBLIC }, 'canonical'),
    bad('integer_as_decimal', 'An integer written with a fraction: "wall_time_us":1234.0.', once(text, '"wall_time_us":1234', '"wall_time_us":1234.0'), expectAll(), 'canonical'),
    bad('integer_as_exponent', 'An integer in exponent form: "timeout_ms":5e3.', once(text, '"timeout_ms":5000', '"timeout_ms":5e3'), expectAll(), 'canonical'),
    bad('negative_zero', 'exit_code written as -0.', once(text, '"exit_code":0', '"exit_code":-0'), expectAll(), 'canonical'),
    bad('leading_zero', 'A number with a leading zero is not JSON.', once(text, '"wall_time_us":1234', '"wall_time_us":01234'), expectAll(), 'format'),
    bad('duplicate_status_prepended', 'A failed job\'s receipt (status "exit", exit_code 3) with "status":"ok","exit_code":0, prepended: a reader keeping the first copy sees success. The signature is valid over the canonical text.',
      `{"status":"ok","exit_code":0,${failedText.slice(1)}`, exitExpect, 'canonical'),
    bad('duplicate_nested_member', 'node.peer_id twice, the first naming another node: a first-copy reader sees another identity.',
      once(text, '"node":{', `"node":{"peer_id":"${OTHER_PEER_ID}",`), expectAll(), 'canonical'),
    bad('duplicate_signature', 'A second "signature" member (all zeros) after the real one.', `${text.slice(0, -1)},"signature":"${'0'.repeat(128)}"}`, expectAll(), 'canonical'),
    bad('oversized', 'The canonical text after 128 KiB of spaces: more bytes than any valid receipt (131072), refused before parsing.', `${' '.repeat(OVERSIZED_PADDING)}${text}`, expectAll(), 'format'),
    bad('lone_surrogate_escape', 'A string holding the escape of a lone surrogate ("\\ud800"): no UTF-8 form, no canonical form.', once(text, '"v8-wasm"', '"\\ud800"'), expectAll(), 'format')
  ]
}

export function buildVectors (): object {
  return {
    description: 'Phase receipt v1 test vectors. signature = Ed25519(private key, utf8(domain) || utf8(JCS(receipt without "signature"))). ' +
      'A verifier is given `receipt_json`, the exact text received, and `expect` (`receipt` is the same receipt as built, for readers: ' +
      'an object, or the raw text when the case is about its spelling). A receipt is valid only if its bytes are exactly JCS of the document they parse to, ' +
      'signature member included (one trailing line feed tolerated): no BOM, whitespace, reordered or repeated members, needless escapes, or other spellings of a number. ' +
      'A verifier must accept the `valid` cases and reject the others at `failed_check`, checking in the order ' +
      'format, canonical, key, peer_id, signature, job_id, nonce, module_hash, inputs_hash, stdout_hash, stderr_hash, outputs. ' +
      '`format` includes what the schema cannot say: `outputs` sorted by path, each path once. `outputs`: the files received ' +
      '(`expect.outputs.files_base64`, base64 by guest path) must be exactly those the receipt lists — same sizes and sha256, none missing, none extra. ' +
      'A case with a `manifest` is about input files: its `expect.job` is that manifest\'s (inputs_hash covers the manifest\'s `inputs`). ' +
      'Generated by test/vectors/generate.ts (seeds: node key 32×0x01, other key 32×0x02).',
    domain: RECEIPT_DOMAIN,
    public_key: NODE_PUBLIC,
    other_public_key: OTHER_PUBLIC,
    peer_id: PEER_ID,
    manifest: MANIFEST as unknown as Json,
    cases: cases()
  }
}

/** The file's exact text. */
export function renderVectors (): string {
  return `${JSON.stringify(buildVectors(), null, 2)}\n`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(VECTORS_FILE, renderVectors())
  console.log(`wrote ${VECTORS_FILE}`)
}
