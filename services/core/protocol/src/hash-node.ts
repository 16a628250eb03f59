/**
 * `sha256:<hex>` content hashes with node:crypto: the server's hot path, same strings as hash.ts,
 * without loading @noble/hashes (hash.ts's portable digest) into the processes that never use it.
 */
import { sha256Hex } from './sha256-native.ts'

export { HASH_PATTERN } from './hash-pattern.ts'

const hex = sha256Hex!

export function contentHash (bytes: Uint8Array): string {
  return `sha256:${hex(bytes)}`
}
