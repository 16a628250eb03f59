/**
 * The executor: runs WebAssembly jobs in a sandbox with no filesystem, no network and no host
 * calls beyond WASI stdio/args/env/clock/random; memory, wall time and output capped. It holds
 * no key and no network. `createV8Runtime` is the first `WasmRuntime`, `createWasmerRuntime`
 * (`@wasmer/sdk` in runner processes) the second.
 */
export type { WasmRuntime, WasmJob, WasmResult, WasmLimits, WasmStatus, WasmProfile, RuntimeStatus } from './runtime.ts'
export { createV8Runtime, V8Runtime } from './pool/v8-runtime.ts'
export type { V8RuntimeInit, V8RuntimeComponents } from './pool.ts'
export { createWasmerRuntime, WasmerRuntime, WASMER_RUNTIME_NAME } from './wasmer/wasmer-runtime.ts'
export type { WasmerRuntimeInit, WasmerRuntimeComponents } from './wasmer/wasmer-runtime.ts'
export { admitModule, admit, TABLE_SLOT_BYTES, MAX_TABLE_ELEMENTS } from './admission.ts'
export { createExecutorService } from './service.ts'
