/**
 * The `outputs` check: the files a client received (or finds in a folder) are exactly the ones
 * the receipt lists under /out — each one's size and sha256 as signed, none missing, none extra.
 * It runs after the signature (a receipt's list means nothing before), last in the order
 * (checks.ts). Portable.
 */
import type { Receipt, ReceiptOutput } from '../documents/receipt.ts'
import { VerificationError } from '../errors.ts'
import { contentHash } from '../hash.ts'

/**
 * One file received: its guest path (`/out/<rel>`) and bytes — or, for a caller that hashed a
 * large file itself (streaming from disk), its size and hash. `hash` may be left out when
 * `bytes` already differs from the receipt's (nothing to hash then).
 */
export type OutputFileEvidence = { path: string, data: Uint8Array } | { path: string, bytes: number, hash?: string }

/** The files received: a list, or a map from guest path to bytes. */
export type OutputFiles = Iterable<OutputFileEvidence> | ReadonlyMap<string, Uint8Array>

/** Longest path quoted in a message (the schema's own bound on a listed path). */
const MAX_QUOTED = 255

/**
 * Checks `files` against a verified receipt's `outputs` (absent: the job wrote none). Returns
 * the check's description; throws VerificationError('outputs') naming the first file that is
 * missing, extra, of another size or of other content. Call it only on a receipt that
 * verifyReceipt returned (or pass the files as `expect.outputs.files` to verifyReceipt).
 */
export function verifyOutputs (receipt: Receipt, files: OutputFiles): string {
  const listed = receipt.outputs ?? []
  const received = new Map<string, OutputFileEvidence>()
  for (const file of entries(files)) {
    if (typeof file?.path !== 'string') throw new VerificationError('outputs', 'every output file received needs a path (/out/<name>)')
    if (received.has(file.path)) throw new VerificationError('outputs', `the file ${quote(file.path)} was received twice`)
    received.set(file.path, file)
  }
  let total = 0
  for (const expected of listed) {
    const file = received.get(expected.path)
    if (file === undefined) {
      throw new VerificationError('outputs', `the receipt lists ${quote(expected.path)} (${expected.bytes} bytes), which was not received`)
    }
    checkOne(expected, file)
    total += expected.bytes
  }
  if (received.size > listed.length) {
    const names = new Set(listed.map(o => o.path))
    const extra = [...received.keys()].filter(p => !names.has(p)).sort()[0]!
    throw new VerificationError('outputs', `the file ${quote(extra)} was received but is not in the receipt's outputs`)
  }
  return `outputs (${listed.length} file${listed.length === 1 ? '' : 's'}, ${total} bytes)`
}

/**
 * The files as digests (path, size, hash), hashed with `hash` — the node's callers pass
 * node:crypto's (hash-node.ts, several times faster than the portable one on large files) and
 * then give the digests to the verifier. Refuses data that is not bytes, as verifyOutputs does.
 */
export function outputDigests (files: OutputFiles, hash: (bytes: Uint8Array) => string): OutputFileEvidence[] {
  return [...entries(files)].map(file => {
    if (typeof file !== 'object' || file === null || !('data' in file)) return file
    if (Object.prototype.toString.call(file.data) !== '[object Uint8Array]') return file
    return { path: file.path, bytes: file.data.byteLength, hash: hash(file.data) }
  })
}

function checkOne (expected: ReceiptOutput, file: OutputFileEvidence): void {
  // Tag check, not instanceof: a Uint8Array (or Buffer) from another realm counts.
  if ('data' in file && Object.prototype.toString.call(file.data) !== '[object Uint8Array]') {
    throw new VerificationError('outputs', `the bytes of ${quote(expected.path)} must be given as a Uint8Array`)
  }
  const size = 'data' in file ? file.data.byteLength : file.bytes
  if (size !== expected.bytes) {
    throw new VerificationError('outputs', `received ${size} bytes of ${quote(expected.path)}, the receipt says ${expected.bytes}`)
  }
  const hash = 'data' in file ? contentHash(file.data) : file.hash
  if (hash !== expected.hash) {
    throw new VerificationError('outputs', `the bytes received for ${quote(expected.path)} do not match the receipt's hash`)
  }
}

function entries (files: OutputFiles): Iterable<OutputFileEvidence> {
  // Duck-typed, so a Map from another realm (a worker, an iframe, a test VM) is one too.
  const map = files as ReadonlyMap<string, Uint8Array>
  if (typeof map.get === 'function' && typeof map.has === 'function' && typeof map.entries === 'function') {
    return [...map.entries()].map(([path, data]) => ({ path, data }))
  }
  return files as Iterable<OutputFileEvidence>
}

function quote (path: string): string {
  return JSON.stringify(path.slice(0, MAX_QUOTED))
}
