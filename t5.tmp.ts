import { createWasmerRuntime } from './services/executor/src/index.ts'
import { contentHash } from './services/core/protocol/src/hash-node.ts'
import { gcStructChain } from './test/executor/wasm-bytes.ts'
import wabtInit from 'wabt'
const wabt = await wabtInit()
const W = '"wasi_snapshot_preview1"'
const wat = (s: string) => { const m = wabt.parseWat('x.wat', s, { exceptions: true }); try { return new Uint8Array(m.toBinary({}).buffer) } finally { m.destroy() } }
const rt = createWasmerRuntime({ runners: 1, maxMemoryBytes: 64 << 20, logger: undefined } as any, { logger: { warn: (o: any, m: string) => console.log('WARN', JSON.stringify(o).slice(0, 300)), error: (o: any, m: string) => console.log('ERR', m, JSON.stringify(o).slice(0, 300)) } })
await rt.start()
const job = (m: Uint8Array, limits = {}) => ({ jobId: 'x', moduleHash: contentHash(m), module: m, args: [], env: {}, stdin: new Uint8Array(), limits: { memoryBytes: 16 << 20, timeoutMs: 20000, outputBytes: 1 << 20, ...limits } })
const r = await rt.run(job(gcStructChain()))
console.log(r.status, r.trap, r.detail, r.wallTimeUs)
const prestat = wat(`(module (import ${W} "fd_prestat_get" (func $p (param i32 i32) (result i32))) (import ${W} "fd_prestat_dir_name" (func $n (param i32 i32 i32) (result i32))) (import ${W} "fd_write" (func $w (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1)
   (func (export "_start") (local $fd i32) (local.set $fd (i32.const 3)) (loop $l (if (i32.eqz (call $p (local.get $fd) (i32.const 100))) (then
     (drop (call $n (local.get $fd) (i32.const 200) (i32.load (i32.const 104)))) (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.load (i32.const 104)))
     (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (i32.store8 (i32.const 300) (i32.const 10)) (i32.store (i32.const 0) (i32.const 300)) (i32.store (i32.const 4) (i32.const 1)) (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) ))
     (local.set $fd (i32.add (local.get $fd) (i32.const 1))) (br_if $l (i32.lt_u (local.get $fd) (i32.const 10))))))`)
const p = await rt.run(job(prestat))
console.log(p.status, JSON.stringify(new TextDecoder().decode(p.stdout)))
const clock = wat(`(module (import ${W} "clock_res_get" (func $res (param i32 i32) (result i32))) (import ${W} "proc_exit" (func $e (param i32))) (memory (export "memory") 1)
  (func (export "_start") (drop (call $res (i32.const 1) (i32.const 64))) (call $e (i32.wrap_i64 (i64.load (i32.const 64))))))`)
console.log('clock res', (await rt.run(job(clock))).exitCode)
await rt.stop()
