/**
 * Honest memory outcomes (issue 12, point 4): the rewriter routes every memory.grow through an
 * injected function that records a grow the node's cap refused. The rule:
 *   memory_limit ⇔ the cap refused a memory.grow during the job (a grow past the cap's maximum
 *   that the module's own maximum and wasm32's 4 GiB would have allowed) and the job then
 *   failed (non-zero exit or trap).
 * A grow no cap could grant (past the module's declared maximum, or past 4 GiB) is the guest's
 * own failure; a guest that recovers from a refusal and exits 0 is ok; a guest near the cap
 * that fails without any refusal is exit/trap (the old "memory nearly at the cap" guess said
 * memory_limit there).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { createV8Runtime, type WasmRuntime, type WasmJob } from '../../services/executor/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { compileWat } from '../helpers/wat.ts'

const MiB = 1024 * 1024
const CAP = 32 * MiB
const W = '"wasi_snapshot_preview1"'

function job (module: Uint8Array): WasmJob {
  return { jobId: 'sha256:' + '0'.repeat(64), moduleHash: contentHash(module), module, args: [], env: {}, stdin: new Uint8Array(), limits: { memoryBytes: CAP, timeoutMs: 10_000, outputBytes: MiB } }
}

/** A module whose _start runs `body`, with proc_exit as $exit and a memory of `memory`. */
async function program (body: string, memory = '1'): Promise<Uint8Array> {
  return await compileWat(`(module
    (import ${W} "proc_exit" (func $exit (param i32)))
    (memory (export "memory") ${memory})
    (func (export "_start") ${body}))`)
}

describe('memory outcomes', () => {
  let runtime: WasmRuntime
  beforeAll(async () => { runtime = createV8Runtime({ workers: 1, maxMemoryBytes: CAP }); await runtime.start() })
  afterAll(async () => { await runtime.stop() })

  it('reports memory_limit when the cap refused a grow and the guest then exits 1', async () => {
    // Grows one page at a time until refused (at the cap), then exits 1 as an allocator's caller would.
    const wasm = await program('(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (call $exit (i32.const 1))')
    const r = await runtime.run(job(wasm))
    expect(r).toMatchObject({ status: 'memory_limit', exitCode: 1 })
    expect(r.detail).toBe(`memory.grow of 1 pages refused at the cap of ${CAP} bytes`)
  })

  it('reports memory_limit when the cap refused one big block far below wasm32\'s limit and the guest exits 1', async () => {
    // 64 MiB asked with 64 KiB in use: a node with a bigger cap would have granted it.
    const wasm = await program('(if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then (call $exit (i32.const 1))))')
    expect(await runtime.run(job(wasm))).toMatchObject({ status: 'memory_limit', exitCode: 1 })
  })

  it('reports exit when the guest asked for more than any cap could give (past 4 GiB) and exits 1', async () => {
    const wasm = await program('(if (i32.eq (memory.grow (i32.const 65536)) (i32.const -1)) (then (call $exit (i32.const 1))))')
    expect(await runtime.run(job(wasm))).toMatchObject({ status: 'exit', exitCode: 1, detail: '' })
  })

  it('reports exit when the grow passed the module\'s own declared maximum, below the cap', async () => {
    const wasm = await program('(if (i32.eq (memory.grow (i32.const 4)) (i32.const -1)) (then (call $exit (i32.const 1))))', '1 2')
    expect(await runtime.run(job(wasm))).toMatchObject({ status: 'exit', exitCode: 1 })
  })

  it('reports ok when the guest recovers from a refused grow and exits 0', async () => {
    const wasm = await program('(drop (memory.grow (i32.const 1024))) (drop (memory.grow (i32.const 1)))')
    expect(await runtime.run(job(wasm))).toMatchObject({ status: 'ok', exitCode: 0 })
  })

  it('reports exit when a guest at the cap exits 1 without any refused grow', async () => {
    // 31.9 of 32 MiB in use, nothing refused: the failure is the guest's own.
    const wasm = await program('(drop (memory.grow (i32.const 510))) (call $exit (i32.const 1))')
    expect(await runtime.run(job(wasm))).toMatchObject({ status: 'exit', exitCode: 1 })
  })

  it('reports memory_limit when the guest traps after a refused grow', async () => {
    const wasm = await program('(drop (memory.grow (i32.const 1024))) unreachable')
    expect(await runtime.run(job(wasm))).toMatchObject({ status: 'memory_limit', exitCode: -1 })
  })
})
