/**
 * Content hashes as Phase writes them: `sha256:<64 lowercase hex>`. Portable (@noble/hashes);
 * the node's hot path uses `hash-node.ts`, which gives the same strings about 10× faster.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'

export const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/

export function contentHash (bytes: Uint8Array): string {
  return `sha256:${bytesToHex(sha256(bytes))}`
}
