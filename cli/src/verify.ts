/**
 * `phase verify PATH --key HEX`: checks a receipt file and says exactly what it checked — and
 * what it could not check without the manifest or the output files. The file's exact bytes are
 * verified: they must be the receipt's canonical JSON (one trailing line feed tolerated), so a
 * receipt re-indented or otherwise re-encoded fails at the `canonical` check. `--outputs DIR`
 * checks the files the job wrote (DIR mirrors /out) last, at the `outputs` check. Exit 0 when
 * verified, 1 with `receipt NOT verified: <check>: <why>` on stderr otherwise; 66 when a file
 * or DIR cannot be read.
 */
import { contentHash, hexToBytes, inputsHashOf, isPhaseError, jobIdOf, MAX_RECEIPT_BYTES, parseManifest, verify, VerificationError } from '@phase-network/sdk'
import { EXIT } from './exit.ts'
import { printable } from './terminal.ts'
import { CliError, UsageError, parse, readInput } from './usage.ts'
import { verifyOutputDir } from './output-dir.ts'
import { open } from 'node:fs/promises'

const OPTIONS = {
  key: { type: 'string' },
  'peer-id': { type: 'string' },
  manifest: { type: 'string' },
  module: { type: 'string' },
  stdout: { type: 'string' },
  stderr: { type: 'string' },
  outputs: { type: 'string' },
  json: { type: 'boolean' }
} as const

export async function verifyCommand (argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS)
  if (positionals.length !== 1) throw new UsageError('verify needs exactly one receipt file')
  const key = values.key as string | undefined
  if (key === undefined || key === '') throw new UsageError('verify needs --key HEX: the receipt key you expect (see `phase node key`)')
  // Exact bytes, never decoded and re-encoded: the canonical check is on them. Read bounded:
  // no valid receipt is larger, and a huge file must not be read whole to be refused.
  const { bytes: receiptBytes, size } = await readBounded(positionals[0]!, MAX_RECEIPT_BYTES)
  if (size > MAX_RECEIPT_BYTES && hexToBytes(key, 32) !== undefined) {
    return fail(new VerificationError('format', `receipt is ${size} bytes, more than the ${MAX_RECEIPT_BYTES} a valid one can take`), values.json === true)
  }
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
    const result = await verify(receiptBytes, { expectedKey: key, expectedPeerId: values['peer-id'] as string | undefined, expectJob: job, outputs })
    // Last in the check order: the files the job wrote, found in DIR.
    if (values.outputs !== undefined) result.checks.push(await verifyOutputDir(result.receipt, values.outputs as string))
    else if (result.receipt.outputs !== undefined) notChecked.push(`${result.receipt.outputs.length} output file(s) (pass --outputs DIR)`)
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

/**
 * At most `max` + 1 bytes of a file (enough to tell it is too large) and its size. A read error
 * exits 66, like any unreadable input.
 */
async function readBounded (path: string, max: number): Promise<{ bytes: Uint8Array, size: number }> {
  try {
    const handle = await open(path, 'r')
    try {
      const stat = await handle.stat()
      // A pipe (/dev/stdin) has no size: read up to the bound.
      const size = stat.isFile() ? stat.size : 0
      const buffer = new Uint8Array(stat.isFile() ? Math.min(size, max) + 1 : max + 1)
      let length = 0
      while (length < buffer.byteLength) {
        const { bytesRead } = await handle.read(buffer, length, buffer.byteLength - length)
        if (bytesRead === 0) break
        length += bytesRead
      }
      return { bytes: buffer.subarray(0, length), size: Math.max(size, length) }
    } finally {
      await handle.close()
    }
  } catch (err) {
    throw new CliError(`cannot read receipt ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.NO_INPUT)
  }
}
