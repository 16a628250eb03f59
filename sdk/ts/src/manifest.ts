/**
 * A fluent manifest builder: `manifest(module).args(...).env(...).stdin(...).input(...).limits(...)`,
 * `.fuel(n)` and `.profile('deterministic')`.
 * Every manifest gets a fresh random nonce, so every job id is unique (replay protection).
 * Portable (`@phase-network/sdk/manifest` in a browser): no Node-only APIs.
 */
import { contentHash } from '@phase-network/protocol'
import { parseManifest, randomNonce, type Manifest, type ManifestLimits, type ManifestProfile, type ManifestRequirements } from '@phase-network/protocol'

/** The job id of a manifest (`sha256:` of its canonical JSON): known before the job is sent. */
export { jobIdOf } from '@phase-network/protocol'

export class ManifestBuilder {
  private readonly doc: Record<string, unknown>
  private readonly files: Array<{ path: string, hash: string, data: Uint8Array }> = []

  constructor (moduleHash: string) {
    this.doc = { version: 1, module_hash: moduleHash, nonce: randomNonce() }
  }

  args (...args: string[]): this { this.doc.args = args; return this }
  env (env: Record<string, string>): this { this.doc.env = { ...env }; return this }
  stdin (bytes: Uint8Array | string): this {
    const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes
    let bin = ''
    for (const b of data) bin += String.fromCharCode(b)
    if (data.byteLength > 0) this.doc.stdin = btoa(bin)
    return this
  }

  /**
   * An input file: the guest reads `data` at `path` (under /in, e.g. `/in/data.csv`). The
   * manifest names it by hash; the client sends its bytes only when the node lacks them.
   */
  input (path: string, data: Uint8Array | string): this {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
    const entry = { path, hash: contentHash(bytes), data: bytes }
    this.files.push(entry)
    this.doc.inputs = this.files.map(({ path, hash }) => ({ path, hash }))
    return this
  }

  /** The input files given with `input()`, with their bytes. */
  inputFiles (): ReadonlyArray<{ path: string, hash: string, data: Uint8Array }> {
    return this.files
  }

  /** Replaces the limits (a fuel set before is dropped unless `limits` names one). */
  limits (limits: ManifestLimits): this { this.doc.limits = { ...limits }; return this }
  /** Instruction budget (`limits.fuel`): the job ends `fuel_exhausted` past it; the node's cap wins. */
  fuel (units: number): this { this.doc.limits = { ...(this.doc.limits as ManifestLimits | undefined), fuel: units }; return this }
  /** `deterministic`: virtual clock from fuel, random seeded from the job id, always metered. */
  profile (profile: ManifestProfile): this { this.doc.profile = profile; return this }
  requirements (req: ManifestRequirements): this { this.doc.requirements = { ...req }; return this }
  nonce (hex: string): this { this.doc.nonce = hex; return this }

  /** The validated, frozen manifest (throws InvalidManifestError naming the field). */
  build (): Manifest {
    return parseManifest(this.doc)
  }
}

/** Starts a manifest for a module given as bytes or as its `sha256:<hex>` hash. */
export function manifest (module: Uint8Array | string): ManifestBuilder {
  return new ManifestBuilder(typeof module === 'string' ? module : contentHash(module))
}
