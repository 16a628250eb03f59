/**
 * A valid WASI command of about `bytes` bytes (for tests of big modules): `_start` and many small
 * functions of local arithmetic, never called, and an exported memory of one page. Its admission,
 * rewrite and compilation are the executor's work in proportion to its size (~6 s for 64 MiB).
 */
const leb = (n: number): number[] => { const out: number[] = []; do { let b = n & 0x7f; n >>>= 7; if (n !== 0) b |= 0x80; out.push(b) } while (n !== 0); return out }
const name = (s: string): number[] => [...leb(s.length), ...Buffer.from(s)]
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body]

export function bigModule (bytes: number): Uint8Array {
  // (local i32) then 100 × (local.get 0, i32.const 7, i32.add, local.set 0), end
  const body = [1, 1, 0x7f]
  for (let i = 0; i < 100; i++) body.push(0x20, 0, 0x41, 7, 0x6a, 0x21, 0)
  body.push(0x0b)
  const fn = Uint8Array.from([...leb(body.length), ...body])
  const n = Math.max(1, Math.floor((bytes - 64) / fn.length))
  const head = [
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 0, 0]),
    ...section(3, [...leb(n), ...new Array<number>(n).fill(0)]),
    ...section(5, [1, 0, 1]),
    ...section(7, [2, ...name('_start'), 0, 0, ...name('memory'), 2, 0]),
    10, ...leb(fn.length * n + leb(n).length), ...leb(n)
  ]
  const out = new Uint8Array(head.length + fn.length * n)
  out.set(head)
  for (let i = 0; i < n; i++) out.set(fn, head.length + i * fn.length)
  return out
}
