/**
 * A remote job's output files against its verified receipt: the peer's message carries the files,
 * the signed receipt lists each one's path, sha256 and size (`outputs`, sorted by path). Every
 * file must be listed, every listed file present, each with its hash and size — as stdout is
 * checked against `stdout_hash`. Anything else is a lying (or broken) peer.
 */
import { VerificationError } from '@phase-network/protocol'
import { contentHash } from '@phase-network/protocol/node'
import { sanitize } from '@phase-network/process'
import type { ReceiptOutput } from '@phase-network/protocol'
import type { OutputFile } from './job-protocol.ts'

/** Longest path or hash of a peer's file quoted in an error message. */
const MAX_QUOTED_PATH = 300
const MAX_QUOTED_HASH = 80

/** The files in the receipt's order, each checked; throws VerificationError('outputs') on any difference. */
export function checkOutputFiles (listed: readonly ReceiptOutput[] | undefined, files: readonly OutputFile[] | undefined): OutputFile[] {
  const want = listed ?? []
  const got = new Map<string, OutputFile>()
  for (const f of files ?? []) {
    if (got.has(f.path)) throw new VerificationError('outputs', `the peer sent ${sanitize(f.path, MAX_QUOTED_PATH)} twice`)
    got.set(f.path, f)
  }
  const out: OutputFile[] = []
  for (const entry of want) {
    const f = got.get(entry.path)
    if (f === undefined) throw new VerificationError('outputs', `the receipt lists ${sanitize(entry.path, MAX_QUOTED_PATH)}, the peer did not send it`)
    if (f.data.byteLength !== entry.bytes) throw new VerificationError('outputs', `${sanitize(entry.path, MAX_QUOTED_PATH)} is ${f.data.byteLength} bytes, its receipt says ${entry.bytes}`)
    const actual = contentHash(f.data)
    if (actual !== entry.hash) throw new VerificationError('outputs', `${sanitize(entry.path, MAX_QUOTED_PATH)} hashes to ${actual}, its receipt says ${sanitize(entry.hash, MAX_QUOTED_HASH)}`)
    got.delete(entry.path)
    out.push(f)
  }
  const extra = got.keys().next()
  if (extra.done !== true) throw new VerificationError('outputs', `the peer sent ${sanitize(extra.value, MAX_QUOTED_PATH)}, which its receipt does not list`)
  return out
}
