/** `sha256:<hex>` content hashes with node:crypto: the server's hot path, same strings as hash.ts. */
import { createHash } from 'node:crypto'

export { HASH_PATTERN } from './hash.ts'

export function contentHash (bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}
