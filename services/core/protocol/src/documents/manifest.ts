/**
 * The job manifest: parsing (JSON text, bytes or a value), schema validation, the upgrade of
 * seed v0.1 manifests, the job id — sha256 of the manifest's RFC 8785 canonical JSON exactly as
 * given (defaults are applied at run time, never hashed in) — and the inputs hash. Portable.
 */
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js'
import { canonicalBytes } from '../canonical.ts'
import { InvalidManifestError } from '../errors.ts'
import { contentHash } from '../hash.ts'
import { deepFreeze, findIllFormedString, toDocumentValue } from './json.ts'
import { describeError, sanitize, validator } from './validate.ts'

export interface ManifestLimits {
  readonly memory_mb?: number
  readonly timeout_ms?: number
  readonly output_bytes?: number
  /** Instruction budget; absent: unmetered (unless the profile is deterministic). */
  readonly fuel?: number
}

/** An input file named by content hash, seen by the guest read-only at `path` (under /in). */
export interface ManifestInput {
  readonly path: string
  readonly hash: string
}

/** `default` (absent) or `deterministic`: virtual clock from fuel, random seeded from the job id. */
export type ManifestProfile = 'default' | 'deterministic'

export interface ManifestRequirements {
  readonly runtime?: string
  readonly arch?: string
  readonly min_memory_mb?: number
  readonly min_cores?: number
}

/** A v1 manifest (schemas/manifest.schema.json). Optional fields stay absent when not given. */
export interface Manifest {
  readonly version: 1
  readonly module_hash: string
  readonly nonce: string
  readonly args?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  /** Standard base64; see `manifestStdin`. */
  readonly stdin?: string
  readonly limits?: ManifestLimits
  readonly inputs?: readonly ManifestInput[]
  readonly profile?: ManifestProfile
  readonly requirements?: ManifestRequirements
}

/** The seed's v0.1 manifest (schemas/manifest-v0.1.schema.json), accepted as input and upgraded. */
export interface ManifestV01 {
  version: '0.1' | 0.1
  module_hash: string
  cpu_cores: number
  memory_mb: number
  timeout_seconds: number
}

export interface ParseManifestOptions {
  /** Nonce for an upgraded v0.1 manifest (which has none). Default: 16 random bytes as hex. */
  nonce?: () => string
}

/** A function from bytes to `sha256:<hex>`: `hash.ts` (portable, the default) or `hash-node.ts` (faster). */
export type ContentHasher = (bytes: Uint8Array) => string

/**
 * Manifests parseManifest returned. They are deep-frozen, so one given back is still the valid
 * manifest it was: returned as it is, not copied and validated again (a remote job was parsed
 * by the job protocol, then by the job runner).
 */
const parsedManifests = new WeakSet<object>()

/** Parses JSON text or bytes (or copies a parsed value), validates, upgrades v0.1; returns a frozen v1 manifest. */
export function parseManifest (input: unknown, options: ParseManifestOptions = {}): Manifest {
  if (typeof input === 'object' && input !== null && parsedManifests.has(input)) return input as Manifest
  const doc = toDocumentValue(input, 'manifest')
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InvalidManifestError('manifest must be a JSON object')
  const version = (doc as { version?: unknown }).version
  if (version === '0.1' || version === 0.1) {
    check('manifestV01', doc, 'v0.1 manifest')
    return upgradeManifest(doc as ManifestV01, { nonce: (options.nonce ?? randomNonce)() })
  }
  if (version !== undefined && version !== 1) {
    throw new InvalidManifestError(sanitize(`manifest: /version ${quote(version)} is not supported (1, or "0.1" for a seed manifest)`))
  }
  check('manifest', doc, 'manifest')
  checkInputPaths(doc as Manifest)
  return parsed(deepFreeze(doc as Manifest))
}

/** The v1 form of a seed v0.1 manifest: its limits become `limits`, its cores a requirement. */
export function upgradeManifest (old: ManifestV01, options: { nonce: string }): Manifest {
  const manifest: Manifest = {
    version: 1,
    module_hash: old.module_hash.startsWith('sha256:') ? old.module_hash : `sha256:${old.module_hash}`,
    nonce: options.nonce,
    limits: { memory_mb: old.memory_mb, timeout_ms: old.timeout_seconds * 1000 },
    requirements: { min_cores: old.cpu_cores }
  }
  check('manifest', manifest, 'upgraded v0.1 manifest')
  return parsed(deepFreeze(manifest))
}

function parsed (manifest: Manifest): Manifest {
  parsedManifests.add(manifest)
  return manifest
}

/** Job id: `sha256:` + hex sha256 of the manifest's canonical JSON. */
export function jobIdOf (manifest: Manifest, hash: ContentHasher = contentHash): string {
  return hash(canonicalBytes(manifest))
}

/**
 * Hash of what the job reads: canonical JSON of `{ args, env, stdin }`, defaults `[]`, `{}`, `""`,
 * plus `inputs` (the input files sorted by path) only when there are any, so a job without input
 * files keeps the inputs hash it always had.
 */
export function inputsHashOf (manifest: Manifest, hash: ContentHasher = contentHash): string {
  const read: Record<string, unknown> = { args: manifest.args ?? [], env: manifest.env ?? {}, stdin: manifest.stdin ?? '' }
  const inputs = manifestInputs(manifest)
  if (inputs.length > 0) read.inputs = inputs.map(i => ({ path: i.path, hash: i.hash }))
  return hash(canonicalBytes(read))
}

/** The manifest's input files sorted by path (UTF-16 code units, as RFC 8785 sorts keys). */
export function manifestInputs (manifest: Manifest): readonly ManifestInput[] {
  const inputs = manifest.inputs ?? []
  return [...inputs].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
}

/** The manifest's profile, `default` when absent. */
export function manifestProfile (manifest: Manifest): ManifestProfile {
  return manifest.profile ?? 'default'
}

/** Two inputs at one path, or a file whose path is another's folder, cannot both be seen. */
function checkInputPaths (manifest: Manifest): void {
  const files = new Set<string>()
  for (const { path } of manifest.inputs ?? []) {
    if (files.has(path)) throw new InvalidManifestError(sanitize(`manifest: /inputs names ${path} twice`))
    files.add(path)
  }
  for (const path of files) {
    for (let i = path.indexOf('/', 4); i !== -1; i = path.indexOf('/', i + 1)) {
      const folder = path.slice(0, i)
      if (files.has(folder)) throw new InvalidManifestError(sanitize(`manifest: /inputs names ${folder} as a file and as a folder`))
    }
  }
}

/** The job's stdin bytes (decoded from base64; the schema guarantees canonical base64). */
export function manifestStdin (manifest: Manifest): Uint8Array {
  const b64 = manifest.stdin ?? ''
  let bin: string
  try {
    bin = atob(b64)
  } catch {
    throw new InvalidManifestError('manifest: /stdin must be canonical standard base64 (padded)')
  }
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/** A fresh 16-byte nonce as 32 lowercase hex digits. */
export function randomNonce (): string {
  return bytesToHex(randomBytes(16))
}

/** A value for an error message; a value passed in (not parsed) may be cyclic or hold a BigInt. */
function quote (value: unknown): string {
  try { return JSON.stringify(value) ?? String(value) } catch { return `(${typeof value})` }
}

function check (schema: 'manifest' | 'manifestV01', doc: unknown, what: string): void {
  const validate = validator(schema)
  if (!validate(doc)) throw new InvalidManifestError(`${what}: ${describeError(validate.errors)}`)
  const bad = findIllFormedString(doc)
  if (bad !== undefined) throw new InvalidManifestError(sanitize(`${what}: ${bad} is not well-formed Unicode (lone surrogate)`))
}
