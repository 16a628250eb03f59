/**
 * `phase verify PATH --key HEX`: checks a receipt file and says exactly what it checked — and
 * what it could not check without the manifest or the output files. The file's exact bytes are
 * verified: they must be the receipt's canonical JSON (one trailing line feed tolerated), so a
 * receipt re-indented or otherwise re-encoded fails at the `canonical` check. Exit 0 when
 * verified, 1 with `receipt NOT verified: <check>: <why>` on stderr otherwise.
 */
import { contentHash } from '../../services/core/src/hash-node.ts'
import { verifyReceipt } from '../../services/core/src/crypto/verify.ts'
import { jobIdOf, inputsHashOf, parseManifest } from '../../services/core/src/documents/manifest.ts'
import { isPhaseError, VerificationError } from '../../services/core/src/errors.ts'
import { EXIT } from './exit.ts'
import { printable } from './terminal.ts'
import { UsageError, parse, readInput } from './usage.ts'

const OPTIONS = {
  key: { type: 'string' },
  'peer-id': { type: 'string' },
  manifest: { type: 'string' },
  module: { type: 'string' },
  stdout: { type: 'string' },
  stderr: { type: 'string' },
  json: { type: 'boolean' }
} as const

export async function verifyCommand (argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS)
  if (positionals.length !== 1) throw new UsageError('verify needs exactly one receipt file')
  const key = values.key as string | undefined
  if (key === undefined || key === '') throw new UsageError('verify needs --key HEX: the receipt key you expect (see `phase node key`)')
  // Exact bytes, never decoded and re-encoded: the canonical check is on them.
  const receiptBytes = await readInput(positionals[0]!, 'receipt')
  const job: { jobId?: string, nonce?: string, moduleHash?: string, inputsHash?: string } = {}
  const notChecked: string[] = []
  if (values.manifest !== undefined) {
    const manifest = parseManifest(await readInput(values.manifest as string, 'manifest'))
    Object.assign(job, { jobId: jobIdOf(manifest), nonce: manifest.nonce, moduleHash: manifest.module_hash, inputsHash: inputsHashOf(manifest) })
  } else {
    notChecked.push('job id, nonce and inputs (pass --manifest)')
  }
  if (values.module !== undefined) {
    const hash = contentHash(await readInput(values.module as string, 'module'))
    if (job.moduleHash !== undefined && job.moduleHash !== hash) {
      return fail(new VerificationError('module_hash', `--module hashes to ${hash}, the manifest names ${job.moduleHash}`), values.json === true)
    }
    job.moduleHash = hash
  } else if (values.manifest === undefined) {
    notChecked.push('module hash (pass --module or --manifest)')
  }
  const outputs: { stdout?: Uint8Array, stderr?: Uint8Array } = {}
  if (values.stdout !== undefined) outputs.stdout = await readInput(values.stdout as string, 'stdout file')
  else notChecked.push('stdout bytes (pass --stdout)')
  if (values.stderr !== undefined) outputs.stderr = await readInput(values.stderr as string, 'stderr file')
  try {
    const result = await verifyReceipt(receiptBytes, { publicKey: key, peerId: values['peer-id'] as string | undefined, job, outputs })
    if (values.json === true) {
      process.stdout.write(JSON.stringify({ verified: true, checks: result.checks, not_checked: notChecked, receipt: result.receipt }, null, 2) + '\n')
    } else {
      process.stdout.write(`receipt verified: job ${result.receipt.job_id} (${result.receipt.status}, exit ${result.receipt.exit_code})\n`)
      for (const check of result.checks) process.stdout.write(`  ✓ ${check}\n`)
      for (const item of notChecked) process.stdout.write(`  - not checked: ${item}\n`)
    }
    return EXIT.OK
  } catch (err) {
    if (isPhaseError(err, 'verification_failed')) return fail(err as VerificationError, values.json === true)
    throw err
  }
}

function fail (err: VerificationError, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify({ verified: false, failed_check: err.check, message: err.message }, null, 2) + '\n')
  process.stderr.write(`phase: receipt NOT verified: ${printable(err.check)}: ${printable(err.message)}\n`)
  return EXIT.NOT_VERIFIED
}
