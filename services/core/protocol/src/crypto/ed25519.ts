/**
 * Ed25519 verification with one rule for every Phase verifier — libsodium's, which the PHP SDK
 * uses (crypto_sign_verify_detached): the public key is a canonical encoding (y < p) of a point
 * that is not of small order; S < L; R is not one of the small-order encodings; and the
 * equation is the cofactorless one, R == encode([S]B − [k]A) byte for byte. node:crypto and
 * WebCrypto (OpenSSL, BoringSSL) check S < L and compare R's encoding but accept small-order
 * and non-canonical keys and small-order R, so those are refused here first. @noble/ed25519's
 * own strict verify uses the cofactored equation, which accepts what libsodium refuses for a
 * key or R with a torsion component; so the pure-JS path computes the cofactorless equation
 * itself with noble's point arithmetic. Portable: the equation runs on the platform's own
 * synchronous verify where there is one (node:crypto, through the conditional import
 * `#ed25519-native`), else WebCrypto's Ed25519, else pure JS — one rule whichever runs.
 */
import { Point, etc } from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { nativeEd25519 } from '#ed25519-native'
import { bytesToHex } from './hex.ts'

/** The order of the prime subgroup. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n

/**
 * Encodings (sign bit cleared) of the small-order points, and of their non-canonical aliases
 * p and p+1 — libsodium's blacklist (ge25519_has_small_order).
 */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
].map(hex => Uint8Array.from(hex.match(/../g)!, b => parseInt(b, 16)))

/**
 * Keys vetted so far (undefined: refused). Bounded by entries, which bounds bytes: an entry is a
 * 64-char hex name and one point (four field elements), about 1 KiB at most, so ≤ 1 MiB.
 */
const vetted = new Map<string, Point | undefined>()
export const MAX_VETTED_KEYS = 1024

/** L as 32 little-endian bytes, for a comparison of S without big integers. */
const L_BYTES = Uint8Array.from({ length: 32 }, (_, i) => Number((L >> BigInt(8 * i)) & 0xffn))

function littleEndian (bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!)
  return n
}

/** One of the small-order encodings, whatever its sign bit. */
export function hasSmallOrderEncoding (point: Uint8Array): boolean {
  return SMALL_ORDER.some(bad => {
    for (let i = 0; i < 31; i++) if (point[i] !== bad[i]) return false
    return (point[31]! & 0x7f) === bad[31]
  })
}

/** S < L, read as 32 little-endian bytes (RFC 8032 §5.1.7: a larger S is refused, not reduced). */
function scalarIsCanonical (s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i] !== L_BYTES[i]) return s[i]! < L_BYTES[i]!
  }
  return false
}

/**
 * The key's point when it is usable (canonical encoding, on the curve, not small order); else
 * undefined. `hex` is the key's lowercase hex when the caller has it (the cache key).
 */
export function vetPublicKey (publicKey: Uint8Array, hex = bytesToHex(publicKey)): Point | undefined {
  if (vetted.has(hex)) return vetted.get(hex)
  let point: Point | undefined
  try {
    // zip215 false: y < p, and no x = 0 with the sign bit set (RFC 8032 §5.1.3 strict decoding).
    point = Point.fromBytes(publicKey, false)
    if (point.isSmallOrder() || hasSmallOrderEncoding(publicKey)) point = undefined
  } catch {
    point = undefined
  }
  if (vetted.size >= MAX_VETTED_KEYS) vetted.delete(vetted.keys().next().value!)
  vetted.set(hex, point)
  return point
}

/** What every path checks on the signature bytes before the equation: S < L, R not small order. */
export function signatureShapeOk (signature: Uint8Array): boolean {
  return signature.byteLength === 64 && scalarIsCanonical(signature.subarray(32)) && !hasSmallOrderEncoding(signature.subarray(0, 32))
}

/** libsodium's verification in pure JS (noble's point arithmetic, @noble/hashes' SHA-512). */
export function verifyEd25519Sync (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, hex = bytesToHex(publicKey)): boolean {
  const A = vetPublicKey(publicKey, hex)
  if (A === undefined || !signatureShapeOk(signature)) return false
  const r = signature.subarray(0, 32)
  const s = littleEndian(signature.subarray(32))
  const k = etc.mod(littleEndian(sha512(etc.concatBytes(r, publicKey, message))), L)
  const R = Point.BASE.multiply(s, false).subtract(A.multiply(k, false))
  const encoded = R.toBytes()
  let diff = 0
  for (let i = 0; i < 32; i++) diff |= encoded[i]! ^ r[i]!
  return diff === 0
}

type Subtle = Pick<SubtleCrypto, 'importKey' | 'verify'>
const subtle: Subtle | undefined = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle
/** WebCrypto keys by hex; undefined once WebCrypto proved to lack Ed25519 here. */
const webKeys = new Map<string, Promise<CryptoKey>>()
let webCryptoEd25519 = subtle !== undefined

let useNativeEd25519 = nativeEd25519 !== undefined

/**
 * The same verification, after the same checks of key and signature shape, on the platform's
 * synchronous verify where there is one (node:crypto: no promise, no thread-pool hop), else
 * WebCrypto's Ed25519 (Node ≥ 20, current browsers: ~10× the pure-JS path), else pure JS.
 */
export async function verifyEd25519 (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, hex = bytesToHex(publicKey)): Promise<boolean> {
  if (vetPublicKey(publicKey, hex) === undefined || !signatureShapeOk(signature)) return false
  if (useNativeEd25519) return nativeEd25519!.verify(signature, message, publicKey, hex)
  if (webCryptoEd25519) {
    try {
      return await subtle!.verify('Ed25519', await webKey(publicKey, hex), signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>)
    } catch (err) {
      // NotSupportedError: no Ed25519 in this WebCrypto; anything else is a real failure.
      if ((err as Error)?.name !== 'NotSupportedError') return false
      webCryptoEd25519 = false
    }
  }
  return verifyEd25519Sync(signature, message, publicKey, hex)
}

async function webKey (publicKey: Uint8Array, hex: string): Promise<CryptoKey> {
  let key = webKeys.get(hex)
  if (key === undefined) {
    key = subtle!.importKey('raw', publicKey.slice(), { name: 'Ed25519' }, false, ['verify'])
    key.catch(() => webKeys.delete(hex))
    if (webKeys.size >= MAX_VETTED_KEYS) webKeys.delete(webKeys.keys().next().value!)
    webKeys.set(hex, key)
  }
  return await key
}

/**
 * Which path verifyEd25519 takes: 'native' (node:crypto where available), 'webcrypto', or 'js'.
 * Tests and the bench pin each in turn to prove they agree; verifiers never need to.
 */
export type Ed25519Path = 'native' | 'webcrypto' | 'js'

/** Pins the path (one that the platform lacks falls through to the next); returns the one in use. */
export function useEd25519Path (path: Ed25519Path): Ed25519Path {
  useNativeEd25519 = path === 'native' && nativeEd25519 !== undefined
  webCryptoEd25519 = path !== 'js' && subtle !== undefined
  return ed25519Path()
}

/** The path verifyEd25519 takes now (WebCrypto drops out once the platform proved to lack Ed25519). */
export function ed25519Path (): Ed25519Path {
  return useNativeEd25519 ? 'native' : webCryptoEd25519 ? 'webcrypto' : 'js'
}

/** Forces the pure-JS path (false), or restores the default path (true). */
export function useWebCrypto (on: boolean): void {
  useEd25519Path(on ? 'native' : 'js')
}

/** Whether verifyEd25519 uses a platform verify (node:crypto or WebCrypto), not the pure-JS path. */
export function usingWebCrypto (): boolean {
  return ed25519Path() !== 'js'
}

/** Keys held by the caches of the path in use (tests prove the bounds). */
export function cachedKeyCounts (): { vetted: number, native: number, webcrypto: number } {
  return { vetted: vetted.size, native: nativeEd25519?.cachedKeys() ?? 0, webcrypto: webKeys.size }
}
