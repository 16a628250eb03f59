/**
 * `#sha256-native` in Node: node:crypto's SHA-256 as lowercase hex (~7× @noble/hashes on a
 * 26 KB module). Reached only through the conditional import, so browser bundles resolve
 * sha256-native-none.ts and never see node:crypto. Same digests as hash.ts' portable path.
 */
import { createHash } from 'node:crypto'

export const sha256Hex: ((bytes: Uint8Array) => string) | undefined = (bytes) => createHash('sha256').update(bytes).digest('hex')
