/**
 * Byte reading and writing for the module rewriter: a bounds-checked reader (every overrun is an
 * InvalidModuleError, never a RangeError) and a growable writer. LEB128 as the binary format
 * defines it: https://webassembly.github.io/spec/core/binary/values.html#integers
 */
import { InvalidModuleError } from '@phase-network/protocol/errors'

export class Reader {
  readonly bytes: Uint8Array
  pos: number
  readonly end: number
  constructor (bytes: Uint8Array, pos = 0, end = bytes.byteLength) { this.bytes = bytes; this.pos = pos; this.end = end }
  done (): boolean { return this.pos >= this.end }
  byte (): number {
    if (this.pos >= this.end) throw new InvalidModuleError('truncated module')
    return this.bytes[this.pos++]!
  }
  peek (): number {
    if (this.pos >= this.end) throw new InvalidModuleError('truncated module')
    return this.bytes[this.pos]!
  }
  skip (n: number): void {
    if (this.pos + n > this.end) throw new InvalidModuleError('truncated module')
    this.pos += n
  }
  /** A LEB128 whose value is not needed (signed constants, s33 heap and block types): ≤ 10 bytes. */
  leb (): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return
    throw new InvalidModuleError('malformed LEB128 integer')
  }
  u32 (): number {
    let result = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) throw new InvalidModuleError('integer out of range')
        return result
      }
    }
    throw new InvalidModuleError('malformed LEB128 integer')
  }
  name (): string {
    const len = this.u32()
    if (this.pos + len > this.end) throw new InvalidModuleError('truncated name')
    this.pos += len
    return new TextDecoder().decode(this.bytes.subarray(this.pos - len, this.pos))
  }
}

export class Writer {
  private buf: Uint8Array<ArrayBuffer>
  length = 0
  constructor (capacity = 1024) { this.buf = new Uint8Array(Math.max(16, capacity)) }
  private room (n: number): void {
    if (this.length + n <= this.buf.byteLength) return
    let size = this.buf.byteLength * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }
  byte (b: number): void { this.room(1); this.buf[this.length++] = b }
  /** Appends bytes (a loop, not push(...): a span can be megabytes). */
  bytes (b: Uint8Array | readonly number[]): void {
    this.room(b.length)
    if (b instanceof Uint8Array) this.buf.set(b, this.length)
    else for (let i = 0; i < b.length; i++) this.buf[this.length + i] = b[i]!
    this.length += b.length
  }
  u32 (v: number): void { this.bytes(uleb(v)) }
  result (): Uint8Array<ArrayBuffer> { return this.buf.slice(0, this.length) }
}

export function uleb (value: number): number[] {
  const out: number[] = []
  do {
    let b = value % 128
    value = Math.floor(value / 128)
    if (value > 0) b |= 0x80
    out.push(b)
  } while (value > 0)
  return out
}

export function sleb (value: bigint): number[] {
  const out: number[] = []
  for (;;) {
    const b = Number(value & 0x7fn)
    value >>= 7n
    if ((value === 0n && (b & 0x40) === 0) || (value === -1n && (b & 0x40) !== 0)) { out.push(b); return out }
    out.push(b | 0x80)
  }
}
