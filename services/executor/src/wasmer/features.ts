/**
 * What the wasmer runtime cannot run, refused before a runner sees the job: features of the V8
 * runtime it lacks (input files, fuel, the deterministic profile), and module features:
 * `@wasmer/sdk` 0.16 panics on wasm GC types ("GC is not implemented yet") and its runner
 * process dies with the job. A module whose type section holds anything but plain function
 * types (struct, array, sub types, rec groups, typed references) is refused with
 * `runtime_unavailable`, so the client can send it to a v8-wasm node.
 * Binary format: https://webassembly.github.io/spec/core/binary/types.html
 */
import { RuntimeUnavailableError } from '@phase-network/protocol/errors'
import { Reader } from '../rewrite/bytes.ts'
import type { WasmJob } from '../runtime.ts'

const TYPE_SECTION = 1
const FUNC = 0x60
/** (ref null ht) and (ref ht): typed references, GC's and function references'. */
const REF_NULL = 0x63
const REF = 0x64

/** Throws RuntimeUnavailableError for a module with GC types; `bytes` were admitted (well formed). */
export function refuseGcTypes (bytes: Uint8Array): void {
  const r = new Reader(bytes, 8)
  while (!r.done()) {
    const id = r.byte()
    const size = r.u32()
    const end = r.pos + size
    if (id === TYPE_SECTION) {
      const types = new Reader(bytes, r.pos, end)
      const n = types.u32()
      for (let i = 0; i < n; i++) {
        if (types.byte() !== FUNC) throw gc()
        for (let list = 0; list < 2; list++) {
          const count = types.u32()
          for (let k = 0; k < count; k++) {
            const t = types.byte()
            if (t === REF_NULL || t === REF) throw gc()
          }
        }
      }
      return
    }
    r.pos = end
  }
}

const gc = (): RuntimeUnavailableError => new RuntimeUnavailableError('the wasmer runtime cannot run wasm GC types (struct, array, typed references); run the job on a v8-wasm node')

/** Features of the V8 runtime this one does not have: refused, never silently ignored. */
export function refuseUnsupported (job: WasmJob): void {
  if ((job.inputs?.length ?? 0) > 0) throw new RuntimeUnavailableError('the wasmer runtime does not support input files (/in); run the job on a v8-wasm node')
  if (job.profile === 'deterministic') throw new RuntimeUnavailableError('the wasmer runtime does not support the deterministic profile; run the job on a v8-wasm node')
  if (job.limits.fuel !== undefined) throw new RuntimeUnavailableError('the wasmer runtime does not meter fuel; run the job on a v8-wasm node')
}
