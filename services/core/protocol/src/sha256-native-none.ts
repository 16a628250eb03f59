/** `#sha256-native` outside Node: none, so hash.ts hashes in pure JS (@noble/hashes). Portable. */
export const sha256Hex: ((bytes: Uint8Array) => string) | undefined = undefined
