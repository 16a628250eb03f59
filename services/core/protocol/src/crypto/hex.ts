/** Lowercase hex, the one spelling of keys (64 chars) and signatures (128 chars). Portable. */

export function bytesToHex (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

/** Lowercase hex of exactly `length` bytes → bytes; anything else (uppercase too) → undefined. */
export function hexToBytes (hex: unknown, length: number): Uint8Array | undefined {
  if (typeof hex !== 'string' || hex.length !== length * 2) return undefined
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) {
    const hi = nibble(hex.charCodeAt(2 * i))
    const lo = nibble(hex.charCodeAt(2 * i + 1))
    if (hi < 0 || lo < 0) return undefined
    out[i] = (hi << 4) | lo
  }
  return out
}

/** Value of one lowercase hex digit's char code, or -1. */
function nibble (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  return -1
}
