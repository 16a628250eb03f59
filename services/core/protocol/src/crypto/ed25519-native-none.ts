/**
 * `#ed25519-native` outside Node (browsers, bundlers without the "node" condition): no
 * synchronous platform verify, so ed25519.ts uses WebCrypto, else pure JS. Portable.
 */

export interface NativeEd25519 {
  /** The bare equation (RFC 8032 verify) of a vetted key; false on any error. */
  verify: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, hex: string) => boolean
  /** Keys held now (tests prove the bound). */
  cachedKeys: () => number
}

export const nativeEd25519: NativeEd25519 | undefined = undefined
