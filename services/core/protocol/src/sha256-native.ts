/**
 * `#sha256-native` in Node: node:crypto's SHA-256 as lowercase hex (~7× @noble/hashes on a
 * 26 KB module). Reached only through the conditional import, so browser bundles resolve
 * sha256-native-none.ts and never see node:crypto. Same digests as hash.ts' portable path.
 *
 * One-shot `crypto.hash` (Node ≥ 20.12 / 21.7) where there is one: ~1.9 µs for a small
 * document against ~9 µs for createHash().update().digest() (a Hash object and its stream
 * machinery per call); a job hashes its manifest, stdout, stderr and receipt on the hot path.
 */
import * as crypto from 'node:crypto'

const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash

export const sha256Hex: ((bytes: Uint8Array) => string) | undefined = typeof oneShot === 'function'
  ? (bytes) => oneShot('sha256', bytes, 'hex')
  : (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')
