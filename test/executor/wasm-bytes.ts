/**
 * A tiny WebAssembly binary writer for the hostile modules the wabt text parser cannot express
 * (wasm GC types, exnref, try_table). Binary format:
 * https://webassembly.github.io/spec/core/binary/modules.html
 */
export const u32 = (v: number): number[] => {
  const out: number[] = []
  do {
    let b = v % 128
    v = Math.floor(v / 128)
    if (v > 0) b |= 0x80
    out.push(b)
  } while (v > 0)
  return out
}

/** Signed LEB128 (i32.const immediates). */
export const s32 = (v: number): number[] => {
  const out: number[] = []
  for (;;) {
    const b = v & 0x7f
    v >>= 7
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { out.push(b); return out }
    out.push(b | 0x80)
  }
}

export const name = (s: string): number[] => { const b = [...Buffer.from(s)]; return [...u32(b.length), ...b] }
export const vec = (items: number[][]): number[] => [...u32(items.length), ...items.flat()]
export const section = (id: number, body: number[]): number[] => [id, ...u32(body.length), ...body]
/** A function body: local declarations ([count, type] pairs) and code; `end` is added. */
export const body = (locals: Array<[number, number]>, code: number[]): number[] => {
  const b = [...vec(locals.map(([n, t]) => [...u32(n), t])), ...code, 0x0b]
  return [...u32(b.length), ...b]
}
export const exportMemoryAndStart = (startFunc: number): number[] => section(7, vec([[...name('memory'), 2, 0], [...name('_start'), 0, ...u32(startFunc)]]))

export function wasm (...sections: number[][]): Uint8Array {
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()])
}

// Opcodes and types used below.
const LOOP = 0x03
const BLOCK = 0x02
const BR = 0x0c
const END = 0x0b
const GLOBAL_GET = 0x23
const GLOBAL_SET = 0x24
const LOCAL_GET = 0x20
const LOCAL_SET = 0x21
const DROP = 0x1a
const UNREACHABLE = 0x00
const I32_CONST = 0x41
const ANYREF = 0x6e
const EXNREF = 0x69
const VOID = 0x40
const FUNC = 0x60
const STRUCT = 0x5f
const ARRAY = 0x5e

/** `array.new $a (global.get 0) (i32.const length)` in a loop, each array holding the previous. */
export function gcArrayBomb (length = 1000): Uint8Array {
  return wasm(
    section(1, vec([[ARRAY, ANYREF, 0x01], [FUNC, 0, 0]])),
    section(3, vec([[1]])),
    section(5, vec([[0, 1]])),
    section(6, vec([[ANYREF, 0x01, 0xd0, ANYREF, END]])),
    exportMemoryAndStart(0),
    section(10, vec([body([], [LOOP, VOID, GLOBAL_GET, 0, I32_CONST, ...s32(length), 0xfb, 0x06, 0, GLOBAL_SET, 0, BR, 0, END])]))
  )
}

/** `struct.new $s (global.get 0)` in a loop: an ever longer linked list on the heap. */
export function gcStructChain (): Uint8Array {
  return wasm(
    section(1, vec([[STRUCT, 1, ANYREF, 0x00], [FUNC, 0, 0]])),
    section(3, vec([[1]])),
    section(5, vec([[0, 1]])),
    section(6, vec([[ANYREF, 0x01, 0xd0, ANYREF, END]])),
    exportMemoryAndStart(0),
    section(10, vec([body([], [LOOP, VOID, GLOBAL_GET, 0, 0xfb, 0x00, 0, GLOBAL_SET, 0, BR, 0, END])]))
  )
}

/**
 * No GC types at all: each exception thrown carries the previous one (an exnref) as payload and
 * is caught with try_table/catch_ref — a chain of exception objects on the heap.
 */
export function exnrefChain (): Uint8Array {
  return wasm(
    section(1, vec([[FUNC, 1, EXNREF, 0], [FUNC, 0, 0], [FUNC, 0, 2, EXNREF, EXNREF]])),
    section(3, vec([[1]])),
    section(5, vec([[0, 1]])),
    section(13, vec([[0x00, 0]])),
    exportMemoryAndStart(0),
    section(10, vec([body([[1, EXNREF]], [
      LOOP, VOID,
      BLOCK, 2,
      0x1f, VOID, ...vec([[0x01, 0, 0]]), // try_table (catch_ref $tag 0)
      LOCAL_GET, 0, 0x08, 0, // throw $tag (local.get 0)
      END,
      UNREACHABLE,
      END,
      LOCAL_SET, 0, DROP,
      BR, 0,
      END
    ])]))
  )
}

/** Five tables of `elements` funcref each, no maximum: `(table N funcref)` × 5. */
export function tableBomb (elements = 10_000_000, tables = 5): Uint8Array {
  return wasm(
    section(1, vec([[FUNC, 0, 0]])),
    section(3, vec([[0]])),
    section(4, vec(Array.from({ length: tables }, () => [0x70, 0x00, ...u32(elements)]))),
    section(5, vec([[0, 1]])),
    exportMemoryAndStart(0),
    section(10, vec([body([], [])]))
  )
}

/** A module that does nothing, after `count` empty custom sections (3 bytes each). */
export function customSectionFlood (count: number): Uint8Array {
  const flood = new Uint8Array(count * 3)
  for (let i = 0; i < count; i++) flood.set([0x00, 0x01, 0x00], i * 3)
  const module = wasm(
    section(1, vec([[FUNC, 0, 0]])),
    section(3, vec([[0]])),
    section(5, vec([[0, 1]])),
    exportMemoryAndStart(0),
    section(10, vec([body([], [])]))
  )
  const out = new Uint8Array(module.byteLength + flood.byteLength)
  out.set(module.subarray(0, 8))
  out.set(flood, 8)
  out.set(module.subarray(8), 8 + flood.byteLength)
  return out
}

/** `module` with one more custom section, named `sectionName`, holding `payload`: a valid module of any size. */
export function withCustomSection (module: Uint8Array, payload: Uint8Array, sectionName = 'x'): Uint8Array {
  const head = name(sectionName)
  return new Uint8Array(Buffer.concat([module, Uint8Array.from([0, ...u32(head.length + payload.byteLength), ...head]), payload]))
}
