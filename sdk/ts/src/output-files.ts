/**
 * Output files against a verified receipt — portable. The receipt lists every file the job
 * wrote under /out (path, sha256, size, sorted by path); the files received must be exactly
 * those: none missing, none extra, each byte for byte. Call it with the receipt `verify`
 * returned (parsed from the verified bytes), never one parsed from elsewhere.
 */
import { contentHash } from '../../../services/core/src/hash.ts'
import { VerificationError } from '../../../services/core/src/errors.ts'
import type { Receipt } from '../../../services/core/src/documents/receipt.ts'

/** A file a job wrote under /out, as received. */
export interface OutputFile {
  /** Absolute guest path under /out. */
  path: string
  data: Uint8Array
}

/** Throws VerificationError (check `outputs`) unless `files` are exactly the receipt's outputs. */
export function verifyOutputFiles (receipt: Pick<Receipt, 'outputs'>, files: readonly OutputFile[]): void {
  const listed = receipt.outputs ?? []
  const byPath = new Map<string, Uint8Array>()
  for (const f of files) {
    if (byPath.has(f.path)) throw new VerificationError('outputs', `output file ${f.path.slice(0, 300)} received twice`)
    byPath.set(f.path, f.data)
  }
  for (const entry of listed) {
    const data = byPath.get(entry.path)
    if (data === undefined) throw new VerificationError('outputs', `the receipt lists ${entry.path}, which was not received`)
    if (data.byteLength !== entry.bytes || contentHash(data) !== entry.hash) throw new VerificationError('outputs', `output file ${entry.path} does not match the receipt's hash and size`)
    byPath.delete(entry.path)
  }
  const extra = byPath.keys().next()
  if (extra.done !== true) throw new VerificationError('outputs', `output file ${extra.value.slice(0, 300)} was received but the receipt does not list it`)
}
