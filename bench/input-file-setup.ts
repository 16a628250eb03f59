/**
 * What the two big-input-file benches (input-file.ts, local; input-file-remote.ts, on another
 * node) share: the size from argv, the guest (test/programs/c/wc.wasm, which counts the lines
 * of /in/x), a file it can count, and the rows' table and units.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { ROOT } from '../test/helpers/node-harness.ts'
import type { Row } from './stats.ts'

export const MB = Number(process.argv[2] ?? 50)
export const SIZE = MB * 1000 * 1000
export const module = new Uint8Array(await readFile(join(ROOT, 'test/programs/c/wc.wasm')))
export const moduleHash = contentHash(module)
export const rows: Row[] = []
export const row = (metric: string, value: string, floor = '', ratio = ''): void => { rows.push({ metric, value, floor, ratio, target: '' }) }
export const ms = (t: number): string => `${t.toFixed(1)} ms`
export const mib = (n: number | undefined): string => n === undefined ? '?' : `${n.toFixed(1)} MiB`

/** A file of `size` bytes: random lines of 100 bytes, so the guest's count is checkable. */
export function bigFile (size: number): Buffer<ArrayBuffer> {
  const b = randomBytes(size)
  for (let i = 99; i < size; i += 100) b[i] = 10
  return b
}
