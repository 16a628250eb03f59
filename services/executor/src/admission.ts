/**
 * Admission of a module before it is compiled: size cap, content hash, and the memory rules
 * of the sandbox — exactly one memory, defined (not imported), not shared, not 64-bit, with
 * its declared maximum rewritten to the cap (so the engine itself refuses growth past it).
 * Only function imports from `wasi_snapshot_preview1` are allowed.
 * Binary format: https://webassembly.github.io/spec/core/binary/modules.html
 */
import { createHash } from 'node:crypto'
import { HashMismatchError, InvalidModuleError, ModuleTooLargeError } from '../../core/src/errors.ts'

export const PAGE_BYTES = 65536
export const WASI_MODULE = 'wasi_snapshot_preview1'

export interface AdmissionLimits {
  maxModuleBytes: number
  memoryBytes: number
}

/** Checks `bytes` and returns them with the memory maximum rewritten to the cap. */
export function admitModule (bytes: Uint8Array, expectedHash: string, limits: AdmissionLimits): Uint8Array<ArrayBuffer> {
  if (bytes.byteLength > limits.maxModuleBytes) {
    throw new ModuleTooLargeError(`module is ${bytes.byteLength} bytes, the cap is ${limits.maxModuleBytes}`)
  }
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  if (actual !== expectedHash) throw new HashMismatchError(`module bytes hash to ${actual}, expected ${expectedHash}`)
  if (bytes.byteLength < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new InvalidModuleError('not a WebAssembly module (bad magic number)')
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new InvalidModuleError('unsupported WebAssembly binary version')
  const capPages = Math.floor(limits.memoryBytes / PAGE_BYTES)
  const r = new Reader(bytes, 8)
  const out: Uint8Array[] = [bytes.subarray(0, 8)]
  let memories = 0
  while (!r.done()) {
    const start = r.pos
    const id = r.byte()
    const size = r.u32()
    const body = r.pos
    if (body + size > bytes.byteLength) throw new InvalidModuleError('truncated section')
    if (id === 2) memories += checkImports(new Reader(bytes.subarray(0, body + size), body))
    if (id === 5) {
      const { section, count } = rewriteMemory(new Reader(bytes.subarray(0, body + size), body), capPages)
      memories += count
      out.push(section)
    } else {
      out.push(bytes.subarray(start, body + size))
    }
    r.pos = body + size
  }
  if (memories > 1) throw new InvalidModuleError('module declares more than one memory')
  return concat(out)
}

function checkImports (r: Reader): number {
  const n = r.u32()
  for (let i = 0; i < n; i++) {
    const module = r.name()
    const field = r.name()
    const kind = r.byte()
    if (kind === 2) throw new InvalidModuleError(`imported memory (${clip(module)}.${clip(field)}) is not allowed: a module must define its own memory`)
    if (kind !== 0) throw new InvalidModuleError(`import ${clip(module)}.${clip(field)} is not a function; only WASI functions may be imported`)
    if (module !== WASI_MODULE) throw new InvalidModuleError(`import ${clip(module)}.${clip(field)} is not available: only ${WASI_MODULE} is provided`)
    r.u32() // type index
  }
  return 0
}

function rewriteMemory (r: Reader, capPages: number): { section: Uint8Array, count: number } {
  const n = r.u32()
  if (n > 1) throw new InvalidModuleError('module declares more than one memory')
  const content: number[] = [...leb(n)]
  for (let i = 0; i < n; i++) {
    const flags = r.byte()
    if ((flags & 0x02) !== 0) throw new InvalidModuleError('shared memory is not allowed')
    if ((flags & 0x04) !== 0) throw new InvalidModuleError('64-bit memory is not allowed')
    if (flags > 1) throw new InvalidModuleError(`unknown memory flags ${flags}`)
    const initial = r.u32()
    const declaredMax = flags === 1 ? r.u32() : Infinity
    if (initial > capPages) {
      throw new InvalidModuleError(`module asks for ${mib(initial)} MiB of initial memory, the cap is ${mib(capPages)} MiB`)
    }
    content.push(0x01, ...leb(initial), ...leb(Math.min(declaredMax, capPages)))
  }
  const body = Uint8Array.from(content)
  return { section: concat([Uint8Array.of(5), Uint8Array.from(leb(body.byteLength)), body]), count: n }
}

class Reader {
  readonly bytes: Uint8Array
  pos: number
  constructor (bytes: Uint8Array, pos: number) { this.bytes = bytes; this.pos = pos }
  done (): boolean { return this.pos >= this.bytes.byteLength }
  byte (): number {
    if (this.pos >= this.bytes.byteLength) throw new InvalidModuleError('truncated module')
    return this.bytes[this.pos++]!
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
    if (this.pos + len > this.bytes.byteLength) throw new InvalidModuleError('truncated name')
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len))
    this.pos += len
    return s
  }
}

function leb (value: number): number[] {
  const out: number[] = []
  do {
    let b = value % 128
    value = Math.floor(value / 128)
    if (value > 0) b |= 0x80
    out.push(b)
  } while (value > 0)
  return out
}

function concat (parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

const mib = (pages: number): number => pages * PAGE_BYTES / (1024 * 1024)
const clip = (s: string): string => JSON.stringify(s.slice(0, 40)).slice(1, -1)
