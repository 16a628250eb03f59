/**
 * The platform's own Ed25519 verify where it has a synchronous one: node:crypto in Node (and
 * runtimes that honour the "node" condition). Reached only through the conditional import
 * `#ed25519-native` (package.json "imports"): a browser bundle resolves the "default" file,
 * ed25519-native-none.ts, and never sees node:crypto. Only the equation is done here; the key
 * and signature-shape checks of libsodium's rule stay in ed25519.ts, before this is called.
 *
 * node:crypto beats WebCrypto on the same OpenSSL by the cost of WebCrypto's job: a promise and
 * a round trip through libuv's thread pool per verify (bench/verify.ts shows both).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import type { NativeEd25519 } from './ed25519-native-none.ts'

/** DER of an SPKI Ed25519 public key, up to its 32 raw bytes (RFC 8410). */
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/**
 * KeyObjects by key hex, so a key is parsed once, not per receipt. Bounded by entries, which
 * bounds bytes: every entry is a 64-char hex name and one Ed25519 public key (under 1 KiB with
 * OpenSSL's EVP_PKEY), so the cache holds under 1 MiB. Oldest key out first.
 */
export const MAX_NATIVE_KEYS = 1024
const keys = new Map<string, KeyObject>()

export const nativeEd25519: NativeEd25519 | undefined = {
  verify (signature, message, publicKey, hex) {
    try {
      return verify(null, message, keyObject(publicKey, hex), signature)
    } catch {
      return false
    }
  },
  cachedKeys: () => keys.size
}

function keyObject (raw: Uint8Array, hex: string): KeyObject {
  let key = keys.get(hex)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
    if (keys.size >= MAX_NATIVE_KEYS) keys.delete(keys.keys().next().value!)
    keys.set(hex, key)
  }
  return key
}
