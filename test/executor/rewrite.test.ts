/**
 * The module rewriter on its own: real modules (C with wasi-libc, the compute kernels, GC and
 * exception-handling modules) come out valid in both variants; what it cannot decode is a typed
 * refusal, never a crash, whatever the bytes.
 */
import { describe, it, expect } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { rewriteModule, rewriteModuleYielding, MAX_FUNCTION_BODY_BYTES, REWRITE_SLICE_BYTES, FUEL_EXPORT, GROW_REFUSED_EXPORT } from '../../services/executor/src/rewrite/rewrite.ts'
import { bigModule } from '../helpers/big-module.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'
import { exnrefChain, gcStructChain, wasm, section, vec, body, exportMemoryAndStart, u32 } from './wasm-bytes.ts'

const OPTS = { ownMaxPages: 65536, capPages: 1024 }
const modules: Array<[string, Uint8Array]> = [
  ['hello (C, wasi-libc)', new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))],
  ['sha256 kernel', new Uint8Array(await readFile(join(ROOT, 'bench/kernels/sha256.wasm')))],
  ['collatz kernel', new Uint8Array(await readFile(join(ROOT, 'bench/kernels/collatz.wasm')))],
  ['GC struct chain', gcStructChain()],
  ['exnref chain (try_table)', exnrefChain()]
]

/** A module whose only function body is `code`. */
const withBody = (code: number[]): Uint8Array => wasm(
  section(1, vec([[0x60, 0, 0]])),
  section(3, vec([[0]])),
  section(5, vec([[0, 1]])),
  exportMemoryAndStart(0),
  section(10, vec([body([], code)]))
)

describe('module rewriter', () => {
  it.each(modules)('keeps %s valid, with its exports and the two node globals, metered or not', (_name, bytes) => {
    const before = WebAssembly.Module.exports(new WebAssembly.Module(Uint8Array.from(bytes))).map((e) => e.name)
    for (const metered of [false, true]) {
      const out = rewriteModule(bytes, { ...OPTS, metered }).bytes
      expect(WebAssembly.validate(out)).toBe(true)
      expect(WebAssembly.Module.exports(new WebAssembly.Module(out)).map((e) => e.name)).toEqual([...before, FUEL_EXPORT, GROW_REFUSED_EXPORT])
    }
  })

  it('refuses an opcode it cannot decode with invalid_module', () => {
    expect(() => rewriteModule(withBody([0x17]), { ...OPTS, metered: true })).toThrow(expect.objectContaining({ code: 'invalid_module', message: expect.stringContaining('unsupported instruction 0x17') }))
    expect(() => rewriteModule(withBody([0xfd, 0xff, 0x0f]), { ...OPTS, metered: false })).toThrow(expect.objectContaining({ code: 'invalid_module' }))
  })

  it('refuses a section count past the section\'s bytes before allocating for it', () => {
    const lying = wasm(section(1, vec([[0x60, 0, 0]])), [3, 5, 0xff, 0xff, 0xff, 0xff, 0x0f])
    expect(() => rewriteModule(lying, { ...OPTS, metered: true })).toThrow(expect.objectContaining({ code: 'invalid_module', message: expect.stringContaining('claims 4294967295 entries') }))
  })

  it('refuses a module that exports a name the node reserves', async () => {
    const bytes = await compileWat(`(module (memory (export "memory") 1) (global (export "${FUEL_EXPORT}") i32 (i32.const 0)) (func (export "_start")))`)
    expect(() => rewriteModule(bytes, { ...OPTS, metered: true })).toThrow(expect.objectContaining({ code: 'invalid_module', message: expect.stringContaining('reserved') }))
  })

  it('answers any corruption of a real module with invalid_module at worst, never another error', () => {
    const hello = modules[0]![1]
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from(hello)
      const flips = 1 + (i % 4)
      for (let k = 0; k < flips; k++) bytes[8 + randomBytes(4).readUInt32LE() % (bytes.byteLength - 8)] = randomBytes(1)[0]!
      try {
        rewriteModule(bytes, { ...OPTS, metered: true })
      } catch (err) {
        expect((err as { code?: string }).code).toBe('invalid_module')
      }
    }
  })

  it("lets the event loop turn every slice of a big module's code, with the same bytes as in one go", async () => {
    // ~4.5 slices of code: paused after each whole slice; a small module in one go.
    const big = bigModule(Math.round(4.5 * REWRITE_SLICE_BYTES))
    const hello = modules[0]![1]
    for (const [bytes, pauses] of [[big, 4], [hello, 0]] as const) {
      for (const metered of [false, true]) {
        let paused = 0
        const out = await rewriteModuleYielding(bytes, { ...OPTS, metered }, async () => { paused++ })
        expect(paused).toBe(pauses)
        expect(Buffer.from(out.bytes).equals(Buffer.from(rewriteModule(bytes, { ...OPTS, metered }).bytes))).toBe(true)
      }
    }
    // The default pause is a turn of the event loop: a timer due meanwhile runs before the end.
    let fired = 0
    const timer = setInterval(() => { fired++ }, 0)
    try {
      await rewriteModuleYielding(big, { ...OPTS, metered: true })
      expect(fired).toBeGreaterThanOrEqual(1)
    } finally {
      clearInterval(timer)
    }
    // An error in a later slice (the last body's end made an unknown opcode) is still the typed refusal.
    const bad = Uint8Array.from(big)
    bad[bad.byteLength - 1] = 0xff
    let before = 0
    await expect(rewriteModuleYielding(bad, { ...OPTS, metered: true }, async () => { before++ })).rejects.toMatchObject({ code: 'invalid_module' })
    expect(before).toBe(4)
    // Rewrites interleaved at their pauses come out as they do one after another.
    const variants = [false, true].map((metered) => ({ ...OPTS, metered }))
    const together = await Promise.all(variants.map(async (o) => await rewriteModuleYielding(big, o)))
    for (const [i, o] of variants.entries()) expect(Buffer.from(together[i]!.bytes).equals(Buffer.from(rewriteModule(big, o).bytes))).toBe(true)
  })

  it('refuses a function body larger than the engine compiles before rewriting it, so no slice is longer', () => {
    // One function whose body (0 locals, nops, end) is n bytes.
    const body = (n: number): Uint8Array<ArrayBuffer> => {
      const head = wasm(section(1, vec([[0x60, 0, 0]])), section(3, vec([[0]])), section(5, vec([[0, 1]])), exportMemoryAndStart(0))
      const entry = [...u32(1), ...u32(n)]
      const code = [10, ...u32(entry.length + n), ...entry]
      const out = new Uint8Array(new ArrayBuffer(head.byteLength + code.length + n)).fill(0x01)
      out.set(head)
      out.set(code, head.byteLength)
      out[head.byteLength + code.length] = 0
      out[out.byteLength - 1] = 0x0b
      return out
    }
    const fits = body(MAX_FUNCTION_BODY_BYTES)
    expect(WebAssembly.validate(rewriteModule(fits, { ...OPTS, metered: false }).bytes)).toBe(true)
    const over = body(MAX_FUNCTION_BODY_BYTES + 1)
    // The engine's own limit: what is refused here it would refuse to compile.
    expect(WebAssembly.validate(over)).toBe(false)
    expect(() => rewriteModule(over, { ...OPTS, metered: false })).toThrow(expect.objectContaining({ code: 'invalid_module', message: expect.stringContaining('more than the engine compiles') }))
  })
})
