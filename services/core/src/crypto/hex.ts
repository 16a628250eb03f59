/** Lowercase hex, the one spelling of keys (64 chars) and signatures (128 chars). Portable. */

export function bytesToHex (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

/** Lowercase hex of exactly `length` bytes → bytes; anything else (uppercase too) → undefined. */
export function hexToBytes (hex: unknown, length: number): Uint8Array | undefined {
  if (typeof hex !== 'string' || hex.length !== length * 2 || !/^[0-9a-f]*$/.test(hex)) return undefined
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}
