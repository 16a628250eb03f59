/**
 * Admission of a module before it is compiled: size cap, content hash, and the memory rules
 * of the sandbox — exactly one memory, defined (not imported), not shared, not 64-bit, with
 * its declared maximum rewritten to the cap (so the engine itself refuses growth past it).
 * Only function imports from `wasi_snapshot_preview1` are allowed.
 *
 * Tables live on the worker's V8 heap (a slot is a tagged pointer plus a dispatch entry), so
 * they share the job's memory cap: each table element counts TABLE_SLOT_BYTES, all tables
 * together hold at most MAX_TABLE_ELEMENTS (one table.grow is one allocation, and V8 aborts the
 * whole process on a single allocation far past a worker's heap limit), a table's maximum is
 * rewritten so table.grow stops at its share, and linear memory gets what the tables leave.
 *
 * Wasm GC array types are refused: one `array.new` allocates up to 2^27 elements (1 GiB) at
 * once on the worker's heap, which V8 answers with a fatal process abort, not a catchable
 * out-of-memory. Structs (at most 10,000 fields each) are allowed: a struct chain is stopped by
 * the worker's heap limit like any other heap object.
 * Binary format: https://webassembly.github.io/spec/core/binary/modules.html
 */
import { createHash } from 'node:crypto'
import { HashMismatchError, InvalidModuleError, ModuleTooLargeError } from '@phase-network/protocol/errors'
import { Reader, uleb } from './rewrite/bytes.ts'

export const PAGE_BYTES = 65536
export const WASI_MODULE = 'wasi_snapshot_preview1'
/** What one table element costs against the memory cap (V8: 8-byte slot + dispatch entry, measured ~26). */
export const TABLE_SLOT_BYTES = 32
/** Table elements of all tables together, whatever the memory cap (2^18: 8 MiB at TABLE_SLOT_BYTES). */
export const MAX_TABLE_ELEMENTS = 262_144
/** Tables a module may declare (V8 allows 100,000; real modules have one or two). */
export const MAX_TABLES = 100
/** Tables may grow into this share of the budget left after initial memory and tables. */
const TABLE_GROWTH_SHARE = 1 / 8

export interface AdmissionLimits {
  maxModuleBytes: number
  memoryBytes: number
}

export interface Admitted {
  /** The module with its memory and table maxima rewritten. */
  bytes: Uint8Array<ArrayBuffer>
  /** The most linear memory the module can ever have. */
  linearMaxBytes: number
  /** The most table elements it can ever have (all tables). */
  tableElements: number
  /** The module's own memory maximum in pages (as declared; 65536 when it declares none). */
  declaredMaxPages: number
}

interface Table { prefix: Uint8Array, initial: number, declaredMax: number, suffix: Uint8Array }

/** Checks `bytes` and returns them with the memory maximum rewritten to the cap. */
export function admitModule (bytes: Uint8Array, expectedHash: string, limits: AdmissionLimits): Uint8Array<ArrayBuffer> {
  return admit(bytes, expectedHash, limits).bytes
}

/** Checks `bytes` and rewrites the maxima of its memory and tables so both fit the memory cap. */
export function admit (bytes: Uint8Array, expectedHash: string, limits: AdmissionLimits): Admitted {
  if (bytes.byteLength > limits.maxModuleBytes) {
    throw new ModuleTooLargeError(`module is ${bytes.byteLength} bytes, the cap is ${limits.maxModuleBytes}`)
  }
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  if (actual !== expectedHash) throw new HashMismatchError(`module bytes hash to ${actual}, expected ${expectedHash}`)
  if (bytes.byteLength < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new InvalidModuleError('not a WebAssembly module (bad magic number)')
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new InvalidModuleError('unsupported WebAssembly binary version')
  const cap = limits.memoryBytes
  const r = new Reader(bytes, 8)
  // Only the spans of the two sections rewritten are kept: a module of millions of tiny
  // (custom) sections must not cost an object each.
  const spans = new Map<number, { start: number, end: number }>()
  let tables: Table[] = []
  let memory: { initial: number, declaredMax: number } | undefined
  while (!r.done()) {
    const start = r.pos
    const id = r.byte()
    const size = r.u32()
    const body = r.pos
    if (body + size > bytes.byteLength) throw new InvalidModuleError('truncated section')
    const content = new Reader(bytes.subarray(0, body + size), body)
    if (id !== 0 && spans.has(id)) throw new InvalidModuleError(`duplicate section ${id}`)
    if (id === 4 && spans.has(5)) throw new InvalidModuleError('table section after the memory section')
    if (id === 1) checkTypes(content)
    if (id === 2) checkImports(content)
    if (id === 4) { tables = readTables(content); spans.set(id, { start, end: body + size }) }
    if (id === 5) { memory = readMemory(content); spans.set(id, { start, end: body + size }) }
    if (id === 1 || id === 2) spans.set(id, { start, end: body + size })
    r.pos = body + size
  }
  const memInitialBytes = (memory?.initial ?? 0) * PAGE_BYTES
  if (memInitialBytes > cap) {
    throw new InvalidModuleError(`module asks for ${mib(memInitialBytes)} MiB of initial memory, the cap is ${mib(cap)} MiB`)
  }
  const tableMax = tableMaxima(tables, cap, memInitialBytes)
  const tableElements = tableMax.reduce((n, m) => n + m, 0)
  const linearMaxPages = Math.min(memory?.declaredMax ?? Infinity, Math.floor((cap - tableElements * TABLE_SLOT_BYTES) / PAGE_BYTES))
  const out: Uint8Array[] = []
  let copied = 0
  for (const [id, content] of [[4, tableSection(tables, tableMax)], [5, memory === undefined ? [0] : [1, 0x01, ...uleb(memory.initial), ...uleb(linearMaxPages)]]] as const) {
    const span = spans.get(id)
    if (span === undefined) continue
    out.push(bytes.subarray(copied, span.start), section(id, content))
    copied = span.end
  }
  out.push(bytes.subarray(copied))
  return { bytes: concat(out), linearMaxBytes: memory === undefined ? 0 : linearMaxPages * PAGE_BYTES, tableElements, declaredMaxPages: Math.min(memory?.declaredMax ?? 65536, 65536) }
}

/**
 * Each table keeps its initial size and may grow to its declared maximum as far as its share of
 * the growth budget goes (tables in order; a table with no maximum wants unbounded growth).
 */
function tableMaxima (tables: Table[], cap: number, memInitialBytes: number): number[] {
  const initial = tables.reduce((n, t) => n + t.initial, 0)
  if (initial > MAX_TABLE_ELEMENTS) {
    throw new InvalidModuleError(`module's tables start with ${initial} elements, the cap is ${MAX_TABLE_ELEMENTS}`)
  }
  if (memInitialBytes + initial * TABLE_SLOT_BYTES > cap) {
    throw new InvalidModuleError(`module's initial memory and tables (${initial} elements × ${TABLE_SLOT_BYTES} bytes) need more than the cap of ${mib(cap)} MiB`)
  }
  const spare = cap - memInitialBytes - initial * TABLE_SLOT_BYTES
  let growth = Math.min(MAX_TABLE_ELEMENTS - initial, Math.floor(spare * TABLE_GROWTH_SHARE / TABLE_SLOT_BYTES))
  return tables.map((t) => {
    const grow = Math.min(t.declaredMax - t.initial, growth)
    growth -= grow
    return t.initial + grow
  })
}

/** Refuses GC array types (see the file comment); walks rec groups, subtypes, func and struct types. */
function checkTypes (r: Reader): void {
  const n = r.u32()
  for (let i = 0; i < n; i++) {
    if (r.peek() === 0x4e) {
      r.byte()
      const m = r.u32()
      for (let j = 0; j < m; j++) subType(r)
    } else {
      subType(r)
    }
  }
}

function subType (r: Reader): void {
  const first = r.peek()
  if (first === 0x50 || first === 0x4f) {
    r.byte()
    const supers = r.u32()
    for (let k = 0; k < supers; k++) r.u32()
  }
  const form = r.byte()
  if (form === 0x60) {
    const params = r.u32()
    for (let k = 0; k < params; k++) valType(r)
    const results = r.u32()
    for (let k = 0; k < results; k++) valType(r)
  } else if (form === 0x5f) {
    const fields = r.u32()
    for (let k = 0; k < fields; k++) { storageType(r); r.byte() }
  } else if (form === 0x5e) {
    throw new InvalidModuleError('wasm GC array types are not supported: one array.new can allocate up to 1 GiB at once')
  } else {
    throw new InvalidModuleError(`unknown type form 0x${form.toString(16)}`)
  }
}

function storageType (r: Reader): void {
  const b = r.peek()
  if (b === 0x78 || b === 0x77) r.byte() // i8, i16
  else valType(r)
}

function valType (r: Reader): void {
  const b = r.byte()
  if (b === 0x63 || b === 0x64) r.leb() // (ref null ht), (ref ht)
}

function readTables (r: Reader): Table[] {
  const n = r.u32()
  if (n > MAX_TABLES) throw new InvalidModuleError(`module declares ${n} tables, at most ${MAX_TABLES} are allowed`)
  const tables: Table[] = []
  for (let i = 0; i < n; i++) {
    const start = r.pos
    // 0x40 0x00: a table with an initializer expression (function references / GC proposals).
    const withInit = r.peek() === 0x40
    if (withInit) { r.byte(); if (r.byte() !== 0) throw new InvalidModuleError('malformed table') }
    valType(r)
    const prefix = r.bytes.subarray(start, r.pos)
    const flags = r.byte()
    if ((flags & 0x04) !== 0) throw new InvalidModuleError('64-bit tables are not allowed')
    if (flags > 1) throw new InvalidModuleError(`unknown table flags ${flags}`)
    const initial = r.u32()
    const declaredMax = flags === 1 ? r.u32() : Infinity
    if (declaredMax < initial) throw new InvalidModuleError('a table\'s maximum is below its initial size')
    const suffixStart = r.pos
    if (withInit) constExpr(r)
    tables.push({ prefix, initial, declaredMax, suffix: r.bytes.subarray(suffixStart, r.pos) })
  }
  return tables
}

function tableSection (tables: Table[], max: number[]): number[] {
  const content: number[] = [...uleb(tables.length)]
  // No push(...x): an initializer expression can be long enough to overflow the call stack.
  const append = (b: ArrayLike<number>): void => { for (let i = 0; i < b.length; i++) content.push(b[i]!) }
  tables.forEach((t, i) => { append(t.prefix); append([0x01, ...uleb(t.initial), ...uleb(max[i]!)]); append(t.suffix) })
  return content
}

/** Skips a constant expression (the instructions the spec allows in one) up to its `end`. */
function constExpr (r: Reader): void {
  for (;;) {
    const op = r.byte()
    if (op === 0x0b) return
    if (op === 0x41 || op === 0x42) r.leb() // i32/i64.const (a LEB of any width)
    else if (op === 0x43) r.skip(4)
    else if (op === 0x44) r.skip(8)
    else if (op === 0x23 || op === 0xd2) r.u32() // global.get, ref.func
    else if (op === 0xd0) r.leb() // ref.null ht
    else if (op >= 0x6a && op <= 0x6c) continue // i32.add/sub/mul
    else if (op >= 0x7c && op <= 0x7e) continue // i64.add/sub/mul
    else if (op === 0xfb) {
      const sub = r.u32()
      if (sub === 0 || sub === 1) r.u32() // struct.new(_default) t
      else if (sub >= 0x1a && sub <= 0x1c) continue // any/extern conversions, ref.i31
      else throw new InvalidModuleError(`unsupported instruction 0xfb ${sub} in a table initializer`)
    } else if (op === 0xfd) {
      if (r.u32() !== 12) throw new InvalidModuleError('unsupported SIMD instruction in a table initializer')
      r.skip(16)
    } else throw new InvalidModuleError(`unsupported instruction 0x${op.toString(16)} in a table initializer`)
  }
}

function readMemory (r: Reader): { initial: number, declaredMax: number } | undefined {
  const n = r.u32()
  if (n > 1) throw new InvalidModuleError('module declares more than one memory')
  if (n === 0) return undefined
  const flags = r.byte()
  if ((flags & 0x02) !== 0) throw new InvalidModuleError('shared memory is not allowed')
  if ((flags & 0x04) !== 0) throw new InvalidModuleError('64-bit memory is not allowed')
  if (flags > 1) throw new InvalidModuleError(`unknown memory flags ${flags}`)
  const initial = r.u32()
  const declaredMax = flags === 1 ? r.u32() : Infinity
  if (declaredMax < initial) throw new InvalidModuleError('the memory\'s maximum is below its initial size')
  return { initial, declaredMax }
}

function section (id: number, content: number[]): Uint8Array {
  const head = [id, ...uleb(content.length)]
  const out = new Uint8Array(head.length + content.length)
  out.set(head)
  out.set(content, head.length)
  return out
}

function checkImports (r: Reader): void {
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
}

function concat (parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

const mib = (bytes: number): number => Math.floor(bytes / (1024 * 1024))
const clip = (s: string): string => JSON.stringify(s.slice(0, 40)).slice(1, -1)
