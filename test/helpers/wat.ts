/** Compiles WebAssembly text to bytes with the wabt npm package (no system tools needed). */
import wabtInit from 'wabt'

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined

export async function compileWat (source: string, name = 'test.wat'): Promise<Buffer> {
  wabt ??= await wabtInit()
  const mod = wabt.parseWat(name, source, { threads: true, memory64: true } as Record<string, boolean>)
  try {
    return Buffer.from(mod.toBinary({}).buffer)
  } finally {
    mod.destroy()
  }
}
