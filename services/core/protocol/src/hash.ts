/**
 * Content hashes as Phase writes them: `sha256:<64 lowercase hex>`. Portable (@noble/hashes);
 * in Node the conditional import `#sha256-native` gives node:crypto's digest instead (SDK and
 * CLI hash whole modules per submit), the same strings ~7× faster. The node's own hot path
 * imports `hash-node.ts` directly.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { sha256Hex } from '#sha256-native'

export { HASH_PATTERN } from './hash-pattern.ts'

let native = sha256Hex

export function contentHash (bytes: Uint8Array): string {
  return `sha256:${native !== undefined ? native(bytes) : bytesToHex(sha256(bytes))}`
}

/** Forces the pure-JS digest (false) or restores the platform's (true); tests prove both agree. */
export function useNativeSha256 (on: boolean): void {
  native = on ? sha256Hex : undefined
}
