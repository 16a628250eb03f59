/**
 * The job manifest: parsing (JSON text, bytes or a value), schema validation, the upgrade of
 * seed v0.1 manifests, and the job id — sha256 of the manifest's RFC 8785 canonical JSON,
 * exactly as given (defaults are applied at run time, never hashed in). Portable.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js'
import { canonicalBytes } from '../canonical.ts'
import { InvalidJsonError, InvalidManifestError } from '../errors.ts'
import { validator, describeError } from './validate.ts'

export interface ManifestLimits {
  readonly memory_mb?: number
  readonly timeout_ms?: number
  readonly output_bytes?: number
}

export interface ManifestRequirements {
  readonly runtime?: string
  readonly arch?: string
  readonly min_memory_mb?: number
  readonly min_cores?: number
}

/** A v1 manifest (see schemas/manifest.schema.json). */
export interface Manifest {
  readonly version: 1
  readonly module_hash: string
  readonly nonce: string
  readonly args?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  readonly stdin?: string
  readonly limits?: ManifestLimits
  readonly requirements?: ManifestRequirements
}

/** The seed's v0.1 manifest, accepted as input and upgraded. */
export interface ManifestV01 {
  version: '0.1' | 0.1
  module_hash: string
  cpu_cores: number
  memory_mb: number
  timeout_seconds: number
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/** Parses JSON text or bytes (or takes a parsed value), upgrades v0.1, validates; returns a frozen v1 manifest. */
export function parseManifest (input: unknown, options: { nonce?: () => string } = {}): Manifest {
  const doc = toValue(input, 'manifest')
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InvalidManifestError('manifest must be a JSON object')
  const version = (doc as { version?: unknown }).version
  if (version === '0.1' || version === 0.1) {
    const v01 = validator('manifestV01')
    if (!v01(doc)) throw new InvalidManifestError(`v0.1 manifest: ${describeError(v01.errors)}`)
    return upgradeManifest(doc as ManifestV01, { nonce: (options.nonce ?? randomNonce)() })
  }
  const v1 = validator('manifest')
  if (!v1(doc)) throw new InvalidManifestError(`manifest: ${describeError(v1.errors)}`)
  return deepFreeze(structuredClone(doc) as Manifest)
}

/** The v1 form of a seed v0.1 manifest. */
export function upgradeManifest (old: ManifestV01, options: { nonce: string }): Manifest {
  const hash = old.module_hash.startsWith('sha256:') ? old.module_hash : `sha256:${old.module_hash}`
  const manifest: Manifest = {
    version: 1,
    module_hash: hash,
    nonce: options.nonce,
    limits: { memory_mb: old.memory_mb, timeout_ms: old.timeout_seconds * 1000 },
    requirements: { min_cores: old.cpu_cores }
  }
  const v1 = validator('manifest')
  if (!v1(manifest)) throw new InvalidManifestError(`upgraded v0.1 manifest: ${describeError(v1.errors)}`)
  return deepFreeze(manifest)
}

/** Job id: `sha256:` + hex sha256 of the manifest's canonical JSON. */
export function jobIdOf (manifest: Manifest): string {
  return `sha256:${bytesToHex(sha256(canonicalBytes(manifest)))}`
}

/** Hash of what the job reads: canonical JSON of { args, env, stdin } with their defaults. */
export function inputsHashOf (manifest: Manifest): string {
  const inputs = { args: manifest.args ?? [], env: manifest.env ?? {}, stdin: manifest.stdin ?? '' }
  return `sha256:${bytesToHex(sha256(canonicalBytes(inputs)))}`
}

/** The job's stdin bytes (decoded from base64). */
export function manifestStdin (manifest: Manifest): Uint8Array {
  const b64 = manifest.stdin ?? ''
  if (b64 === '') return new Uint8Array()
  try {
    const bin = atob(b64)
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
    return out
  } catch {
    throw new InvalidManifestError('manifest: /stdin is not valid base64')
  }
}

/** A fresh 16-byte nonce as hex. */
export function randomNonce (): string {
  return bytesToHex(randomBytes(16))
}

/** JSON text or UTF-8 bytes → value; anything else is taken as an already parsed value. */
export function toValue (input: unknown, what: string): unknown {
  let text: string
  if (typeof input === 'string') text = input
  else if (input instanceof Uint8Array) {
    try { text = decoder.decode(input) } catch { throw new InvalidJsonError(`${what} is not valid UTF-8`) }
  } else return input
  try {
    return JSON.parse(text)
  } catch {
    throw new InvalidJsonError(`${what} is not valid JSON`)
  }
}

export function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
