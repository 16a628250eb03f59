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

/** The files in the receipt's order, each checked; throws VerificationError('outputs') on any difference. */
export function checkOutputFiles (listed: readonly ReceiptOutput[] | undefined, files: readonly OutputFile[] | undefined): OutputFile[] {
  const want = listed ?? []
  const got = new Map<string, OutputFile>()
  for (const f of files ?? []) {
    if (got.has(f.path)) throw new VerificationError('outputs', `the peer sent ${sanitize(f.path, 300)} twice`)
    got.set(f.path, f)
  }
  const out: OutputFile[] = []
  for (const entry of want) {
    const f = got.get(entry.path)
    if (f === undefined) throw new VerificationError('outputs', `the receipt lists ${sanitize(entry.path, 300)}, the peer did not send it`)
    if (f.data.byteLength !== entry.bytes) throw new VerificationError('outputs', `${sanitize(entry.path, 300)} is ${f.data.byteLength} bytes, its receipt says ${entry.bytes}`)
    const actual = contentHash(f.data)
    if (actual !== entry.hash) throw new VerificationError('outputs', `${sanitize(entry.path, 300)} hashes to ${actual}, its receipt says ${sanitize(entry.hash, 80)}`)
    got.delete(entry.path)
    out.push(f)
  }
  const extra = got.keys().next()
  if (extra.done !== true) throw new VerificationError('outputs', `the peer sent ${sanitize(extra.value, 300)}, which its receipt does not list`)
  return out
}
