/**
 * Admission's rewriting of tables and memory: together they never exceed the job's memory cap,
 * and what it refuses it refuses with invalid_module.
 */
import { describe, it, expect } from '@jest/globals'
import { admit, MAX_TABLE_ELEMENTS, TABLE_SLOT_BYTES } from '../../services/executor/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { body, exportMemoryAndStart, section, u32, vec, wasm } from './wasm-bytes.ts'

const MiB = 1024 * 1024
const FUNCREF = 0x70

/** A module with the given table entries (raw bytes each) and memory limits. */
function module (tables: number[][], memory: number[] = [0, 1]): Uint8Array {
  return wasm(
    section(1, vec([[0x60, 0, 0]])),
    section(3, vec([[0]])),
    section(4, vec(tables)),
    section(5, vec([memory])),
    exportMemoryAndStart(0),
    section(10, vec([body([], [])]))
  )
}

const run = (bytes: Uint8Array, memoryBytes = 64 * MiB): ReturnType<typeof admit> => admit(bytes, contentHash(bytes), { maxModuleBytes: 16 * MiB, memoryBytes })

function errorOf (fn: () => unknown): { code: string, message: string } {
  try { fn() } catch (err) { return err as { code: string, message: string } }
  throw new Error('expected an error')
}

/** The limits the rewritten module declares, read back by instantiating it. */
function limitsOf (bytes: Uint8Array): { memoryGrowsTo: number } {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {})
  const memory = instance.exports.memory as WebAssembly.Memory
  let pages = memory.buffer.byteLength / 65536
  while (true) { try { memory.grow(256) } catch { break } pages += 256 }
  while (true) { try { memory.grow(1) } catch { break } pages += 1 }
  return { memoryGrowsTo: pages * 65536 }
}

describe('admit', () => {
  it('gives a table with no maximum a bounded one and memory what the tables leave', () => {
    const a = run(module([[FUNCREF, 0x00, ...u32(1000)]]))
    expect(a.tableElements).toBeGreaterThan(1000)
    expect(a.tableElements).toBeLessThanOrEqual(MAX_TABLE_ELEMENTS)
    expect(a.linearMaxBytes + a.tableElements * TABLE_SLOT_BYTES).toBeLessThanOrEqual(64 * MiB)
    expect(limitsOf(a.bytes).memoryGrowsTo).toBe(a.linearMaxBytes)
  })

  it('keeps a small declared table maximum as it is', () => {
    const a = run(module([[FUNCREF, 0x01, ...u32(10), ...u32(20)]]))
    expect(a.tableElements).toBe(20)
    expect(a.linearMaxBytes).toBe(Math.floor((64 * MiB - 20 * TABLE_SLOT_BYTES) / 65536) * 65536)
  })

  it('keeps a table initializer expression intact', () => {
    // 0x40 0x00: table with an initializer; (ref.null func) end.
    const a = run(module([[0x40, 0x00, FUNCREF, 0x00, ...u32(5), 0xd0, FUNCREF, 0x0b]]))
    expect(WebAssembly.validate(a.bytes as Uint8Array<ArrayBuffer>)).toBe(true)
    expect(a.tableElements).toBeGreaterThanOrEqual(5)
  })

  it.each([
    ['tables past the element cap', module([[FUNCREF, 0x00, ...u32(MAX_TABLE_ELEMENTS + 1)]]), /tables start with/],
    ['tables and memory past the cap together', module([[FUNCREF, 0x00, ...u32(100_000)]], [0, ...u32(240)]), /need more than the cap/],
    ['a table maximum below its initial size', module([[FUNCREF, 0x01, ...u32(10), ...u32(5)]]), /maximum is below/],
    ['a 64-bit table', module([[FUNCREF, 0x04, ...u32(1)]]), /64-bit tables/],
    ['101 tables', module(Array.from({ length: 101 }, () => [FUNCREF, 0x00, 0])), /101 tables/],
    ['a GC array type', wasm(section(1, vec([[0x5e, 0x7f, 0x01]]))), /GC array types/],
    ['a GC array type inside a rec group', wasm(section(1, vec([[0x4e, 2, 0x5f, 0, 0x50, 0, 0x5e, 0x78, 0x01]]))), /GC array types/],
    ['a duplicate memory section', wasm(section(5, vec([[0, 1]])), section(5, vec([[0, 1]]))), /duplicate section 5/]
  ])('refuses %s with invalid_module', (_what, bytes, message) => {
    const err = errorOf(() => run(bytes, 16 * MiB))
    expect(err.code).toBe('invalid_module')
    expect(err.message).toMatch(message)
  })
})
