/**
 * A TypeScript user's file, type-checked by test/sdk/pack.test.ts in the fresh project against
 * the .d.ts of the installed tarballs (and by the repository's typecheck against the sources).
 */
import { PhaseClient, manifest, jobIdOf, verify, isPhaseError, type SubmitResult, type Manifest, type Receipt } from '@phase-network/sdk'
import { verify as portableVerify, type VerifyOptions } from '@phase-network/sdk/verify'
import { manifest as portableManifest, ManifestBuilder } from '@phase-network/sdk/manifest'

export async function run (address: string, wasm: Uint8Array, key: string): Promise<string> {
  const client = new PhaseClient({ address, timeoutMs: 10_000 })
  try {
    const job: Manifest = manifest(wasm).args('Hello').fuel(1_000_000).build()
    const r: SubmitResult = await client.submit(job, wasm, { expectedKey: key })
    const receipt: Receipt = r.receipt
    return `${jobIdOf(job)} ${receipt.status} ${r.verification.verified ? r.verification.checks.length : r.verification.reason}`
  } catch (err) {
    return isPhaseError(err, 'verification_failed') ? err.message : 'other'
  } finally {
    client.close()
  }
}

export async function check (receipt: Uint8Array, options: VerifyOptions): Promise<number> {
  const builder: ManifestBuilder = portableManifest('sha256:' + '0'.repeat(64)).profile('deterministic')
  const { receipt: verified, checks } = await portableVerify(receipt, { ...options, job: builder.build() })
  const exit: number = verified.exit_code
  return exit + checks.length + (await verify(receipt, options)).checks.length
}
