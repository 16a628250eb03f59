/**
 * The deterministic profile's random stream: block i is sha256(seed || i as u64 big-endian),
 * seed = sha256("phase-random:v1:" || job id), the blocks concatenated. Any node running the
 * same job gives the guest the same bytes; a different job (a new nonce) gets another stream.
 */
import { createHash } from 'node:crypto'

export interface SeededRandom {
  /** Fills `buf` with the next bytes of the stream. */
  fill: (buf: Uint8Array) => void
}

export const RANDOM_DOMAIN = 'phase-random:v1:'

export function seededRandom (jobId: string): SeededRandom {
  const seed = createHash('sha256').update(RANDOM_DOMAIN + jobId).digest()
  const input = Buffer.alloc(seed.byteLength + 8)
  seed.copy(input)
  let counter = 0n
  let block = Buffer.alloc(0)
  let used = 0
  return {
    fill (buf) {
      let o = 0
      while (o < buf.byteLength) {
        if (used === block.byteLength) {
          input.writeBigUInt64BE(counter++, seed.byteLength)
          block = createHash('sha256').update(input).digest()
          used = 0
        }
        const n = Math.min(block.byteLength - used, buf.byteLength - o)
        buf.set(block.subarray(used, used + n), o)
        used += n
        o += n
      }
    }
  }
}
