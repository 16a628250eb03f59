/**
 * Ed25519 keys as node:crypto KeyObjects and as the raw forms Phase writes (a 32-byte seed for
 * a private key, 64 lowercase hex for a public key). Raw keys are wrapped in the fixed DER
 * prefixes of PKCS#8 / SPKI (RFC 8410), which is how node:crypto imports them. Node-only.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { bytesToHex, hexToBytes } from './hex.ts'

/** DER of a PKCS#8 Ed25519 private key, up to its 32-byte seed. */
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
/** DER of an SPKI Ed25519 public key, up to its 32 raw bytes. */
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/** A new random Ed25519 private key. */
export function generatePrivateKey (): KeyObject {
  return generateKeyPairSync('ed25519').privateKey
}

/** The private key of a raw 32-byte Ed25519 seed. */
export function privateKeyFromSeed (seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

/** The raw 32-byte seed of a private key (what the key file stores). */
export function seedOf (key: KeyObject): Uint8Array {
  assertEd25519(key, 'private')
  const der = key.export({ format: 'der', type: 'pkcs8' })
  return new Uint8Array(der.subarray(der.length - 32))
}

/** Raw public key, 64 lowercase hex, of a private or public key. */
export function publicKeyHex (key: KeyObject): string {
  assertEd25519(key)
  const der = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' })
  return bytesToHex(der.subarray(der.length - 32))
}

/** The public key of 64 lowercase hex digits. */
export function publicKeyFromHex (hex: string): KeyObject {
  const raw = hexToBytes(hex, 32)
  if (raw === undefined) throw new RangeError('an Ed25519 public key is 64 lowercase hex digits')
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
}

/** A private key from either form signing code accepts: a KeyObject or a raw 32-byte seed. */
export function toPrivateKey (key: KeyObject | Uint8Array): KeyObject {
  if (key instanceof Uint8Array) return privateKeyFromSeed(key)
  assertEd25519(key, 'private')
  return key
}

function assertEd25519 (key: KeyObject, type?: 'private' | 'public'): void {
  if (key?.asymmetricKeyType !== 'ed25519' || (type !== undefined && key.type !== type)) {
    throw new TypeError(type === undefined ? 'expected an Ed25519 key' : `expected an Ed25519 ${type} key`)
  }
}
