/**
 * A job's input files, by content hash: the bytes a client (or a peer) sent are checked against
 * the hash the manifest names and the node's caps, then cached (`InputStore`), so the next job
 * naming the same file sends only its hash. Every file the manifest names must be sent or
 * cached; a missing one is an `input_not_cached` error naming its hash, as for a module.
 *
 * Caps (config `limits`): `max_input_file_bytes` per file, `max_input_bytes` per job (every
 * path counts, the same bytes at two paths twice: the executor holds each file in memory).
 */
import { manifestInputs, type Manifest } from '@phase-network/protocol'
import { contentHash } from '@phase-network/protocol/node'
import { DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_FILE_BYTES, type LimitsConfig } from '@phase-network/process'
import { HashMismatchError, InputNotCachedError, InputTooLargeError, InvalidArgumentError } from '@phase-network/protocol'
import type { InputStore } from './module-store.ts'

/** The bytes of one input file as a client or peer sends them. */
export interface InputBlob {
  hash: string
  data: Uint8Array
}

/** One input file as the executor gets it: guest path, hash and bytes. */
export interface InputFile {
  path: string
  hash: string
  data: Uint8Array
}

export type InputCaps = Pick<LimitsConfig, 'maxInputFileBytes' | 'maxInputBytes'>

export interface AdmittedInputs {
  /** Bytes of every input file the manifest names, sorted by path (empty when none). */
  load: () => Promise<InputFile[]>
  /** Total bytes of the job's input files. */
  bytes: number
}

const NONE: AdmittedInputs = { load: async () => [], bytes: 0 }
/** Hashes named in one error message (the error's `missing` lists them all). */
const NAMED_IN_MESSAGE = 4

/**
 * Checks the blobs sent with a job against its manifest and the caps, stores them, and makes
 * sure every file the manifest names is here. Throws InvalidArgumentError (a blob the manifest
 * does not name, or one sent twice), InputTooLargeError, HashMismatchError, InputNotCachedError.
 */
export async function admitInputs (store: Pick<InputStore, 'has' | 'get' | 'put' | 'sizeOf'>, manifest: Manifest, blobs: readonly InputBlob[] | undefined, caps: InputCaps): Promise<AdmittedInputs> {
  const files = manifestInputs(manifest)
  const sent = checkBlobs(files, blobs ?? [], caps)
  if (files.length === 0) return NONE
  const maxFile = caps.maxInputFileBytes ?? DEFAULT_MAX_INPUT_FILE_BYTES
  const maxJob = caps.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES
  const missing = new Set<string>()
  let total = 0
  for (const { path, hash } of files) {
    const size = sent.get(hash)?.byteLength ?? store.sizeOf(hash)
    if (size === undefined) { missing.add(hash); continue }
    if (size > maxFile) throw new InputTooLargeError(`input file ${path} is ${size} bytes, this node's cap is ${maxFile}`)
    total += size
  }
  if (missing.size > 0) {
    const list = [...missing].sort()
    const more = list.length > NAMED_IN_MESSAGE ? ` and ${list.length - NAMED_IN_MESSAGE} more` : ''
    throw new InputNotCachedError(`input file${list.length > 1 ? 's' : ''} ${list.slice(0, NAMED_IN_MESSAGE).join(', ')}${more} not cached on this node; send ${list.length > 1 ? 'their' : 'its'} bytes`, list)
  }
  if (total > maxJob) throw new InputTooLargeError(`the job's input files are ${total} bytes together, this node's cap is ${maxJob}`)
  for (const [hash, data] of sent) await store.put(hash, data)
  return {
    bytes: total,
    load: async () => {
      const out: InputFile[] = []
      const loaded = new Map<string, Uint8Array>()
      for (const { path, hash } of files) {
        const data = sent.get(hash) ?? loaded.get(hash) ?? await store.get(hash)
        if (data === undefined) throw new InputNotCachedError(`input file ${hash} is no longer cached on this node; send its bytes`, [hash])
        loaded.set(hash, data)
        out.push({ path, hash, data })
      }
      return out
    }
  }
}

/** The sent blobs by hash, each named by the manifest, within the per-file cap, hash checked. */
function checkBlobs (files: ReadonlyArray<{ hash: string }>, blobs: readonly InputBlob[], caps: InputCaps): Map<string, Uint8Array> {
  const sent = new Map<string, Uint8Array>()
  if (blobs.length === 0) return sent
  const named = new Set(files.map((f) => f.hash))
  const maxFile = caps.maxInputFileBytes ?? DEFAULT_MAX_INPUT_FILE_BYTES
  const maxJob = caps.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES
  let total = 0
  for (const { data } of blobs) total += data.byteLength
  if (total > maxJob) throw new InputTooLargeError(`the input files sent are ${total} bytes together, this node's cap is ${maxJob}`)
  for (const { hash, data } of blobs) {
    // Bytes no input names would only fill the cache: refused before they are hashed.
    if (!named.has(hash)) throw new InvalidArgumentError(`input bytes sent for ${String(hash).slice(0, 80)}, which the manifest's inputs do not name`)
    if (sent.has(hash)) throw new InvalidArgumentError(`input bytes for ${hash} sent twice`)
    if (data.byteLength > maxFile) throw new InputTooLargeError(`input file ${hash} is ${data.byteLength} bytes, this node's cap is ${maxFile}`)
    const actual = contentHash(data)
    if (actual !== hash) throw new HashMismatchError(`input bytes hash to ${actual}, the manifest says ${hash}`)
    sent.set(hash, data)
  }
  return sent
}
