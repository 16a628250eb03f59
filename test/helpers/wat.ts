/** Compiles WebAssembly text to bytes with the wabt npm package (no system tools needed). */
import wabtInit from 'wabt'

// Loaded when imported, before a test starts a V8 runtime: the runtime turns wasm lazy
// compilation off process-wide, and wabt's own large wasm then takes ~10 s to compile.
const wabt = await wabtInit()

export async function compileWat (source: string, name = 'test.wat'): Promise<Buffer> {
  const mod = wabt.parseWat(name, source, { threads: true, memory64: true } as Record<string, boolean>)
  try {
    return Buffer.from(mod.toBinary({}).buffer)
  } finally {
    mod.destroy()
  }
}
