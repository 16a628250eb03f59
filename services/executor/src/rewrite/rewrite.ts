/**
 * The module rewriter: runs after admission, before compiling, once per module (the pool caches
 * the result by module hash, memory cap, variant and REWRITE_VERSION). It adds, at the end of
 * each index space so no existing index moves:
 *
 * * two mutable globals, exported to the host: `phase:fuel` (i64, the fuel left) and
 *   `phase:grow_refused` (i32, the pages of the last memory.grow the node's cap refused; 0: none);
 * * one function, `$grow` (i32) → i32, which every `memory.grow` becomes a call to: it grows, and
 *   when the grow fails although it fits the module's own maximum (declared, or wasm32's 4 GiB),
 *   the refusal was the node's cap and it records it. A grow no cap could grant is not recorded.
 * * (metered variant) a fuel charge at the start of every stretch of straight-line code: the
 *   stretch's cost (1 per instruction) is taken from `phase:fuel`, and below zero the guest
 *   traps (`unreachable`). A trap cannot be caught by the guest's exception handlers (unlike a
 *   host exception), and the host tells this trap from the guest's own by the global being
 *   negative, which only the injected code can write.
 *
 * Stretches start at the function entry, after `loop` (each iteration pays), `if`, `else`, `end`,
 * `catch`/`catch_all`/`delegate` and conditional branches; code after an unconditional branch
 * is unreachable until the next `end`/`else` and is not charged. A call is not a boundary: the
 * callee pays for itself. So the fuel used is the number of instructions of every stretch
 * entered, the same on every run and every node. Bulk operations (memory.fill/copy/init,
 * table.fill/copy/init) also pay 1 per BULK_BYTES_PER_UNIT of their length, charged just before
 * them from the length on the stack.
 * Binary format: https://webassembly.github.io/spec/core/binary/modules.html
 */
import { InvalidModuleError } from '@phase-network/protocol/errors'
import { Reader, Writer, uleb, sleb } from './bytes.ts'
import { decode, Kind, type DecodeContext } from './instructions.ts'
import { FUEL_EXPORT, GROW_REFUSED_EXPORT, START_EXPORT } from './exports.ts'

/** Bumped whenever the rewrite's output changes: cached rewrites of an older version are not used. */
export const REWRITE_VERSION = 1
export { FUEL_EXPORT, GROW_REFUSED_EXPORT, START_EXPORT } from './exports.ts'
/** A bulk operation's length (bytes or table elements) per extra unit of fuel: log2 of it. */
const BULK_SHIFT = 6
export const BULK_BYTES_PER_UNIT = 2 ** BULK_SHIFT
/** wasm32's largest memory, in pages. */
const MAX_PAGES = 65536

export interface RewriteOptions {
  /** Inject fuel metering. */
  metered: boolean
  /**
   * Canonicalize NaNs where their bits become visible (f32/f64.store, i32/i64.reinterpret):
   * CPUs make different NaNs (x86-64's default NaN is negative, arm64's positive).
   */
  canonicalNaN?: boolean
  /** The module's own memory maximum in pages (its declared maximum, or 65536): grows past it are not the cap's doing. */
  ownMaxPages: number
  /** The memory maximum the node's cap allows it (pages): only grows past it are the cap's doing. */
  capPages: number
}

export interface Rewritten {
  bytes: Uint8Array<ArrayBuffer>
  /** The module uses relaxed SIMD, whose results may differ between CPUs. */
  relaxedSimd: boolean
  /** The module uses SIMD float operations that make NaNs (their bits may differ between CPUs). */
  floatSimd: boolean
}

/** Section order of the binary format (custom sections, id 0, may appear anywhere). */
const ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 }
const TYPE = 1
const IMPORT = 2
const FUNCTION = 3
const MEMORY = 5
const GLOBAL = 6
const EXPORT = 7
const START = 8
const CODE = 10

interface State {
  opts: RewriteOptions
  ctx: DecodeContext
  hasMemory: boolean
  /** The start section's function, moved to an export. */
  start: number | undefined
  types: number
  importedFuncs: number
  definedFuncs: number
  globals: number
  growType: number
  /** Parameter count of each type (0 for struct and array types). */
  typeParams: number[]
  /** Type index of each defined function. */
  funcTypes: Uint32Array
}

/**
 * Function bodies rewritten between two pauses of `rewriteModuleYielding` (bytes of the code
 * section read): ~20 ms of this host's rewrite at ~50 MB/s. Pauses fall between bodies, so a
 * slice is at most this plus one body (MAX_FUNCTION_BODY_BYTES). A module smaller than this is
 * rewritten in one go.
 */
export const REWRITE_SLICE_BYTES = 1 << 20
/**
 * The largest function body V8 compiles (its kV8MaxWasmFunctionSize): a bigger one is refused
 * before it is rewritten, so no single body holds the thread longer than ~150 ms here.
 */
export const MAX_FUNCTION_BODY_BYTES = 7_654_321

/** The rewritten module, in one go (tests; the executor uses rewriteModuleYielding). */
export function rewriteModule (bytes: Uint8Array, opts: RewriteOptions): Rewritten {
  return runSteps(rewriteSteps(bytes, opts))
}

/**
 * The rewritten module, the event loop turning after every REWRITE_SLICE_BYTES of code (at a
 * function's end): a big module's rewrite (~1.3 s for 64 MiB of code here) would otherwise hold
 * the executor's main thread, and with it every other job's messages and the status polls, for
 * all of it. Same bytes as rewriteModule.
 */
export async function rewriteModuleYielding (bytes: Uint8Array, opts: RewriteOptions, pause: () => Promise<void> = nextTurn): Promise<Rewritten> {
  const steps = rewriteSteps(bytes, opts)
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
    await pause()
  }
}

const nextTurn = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

/** The rewrite, pausing (yield) after each REWRITE_SLICE_BYTES of function bodies. */
function * rewriteSteps (bytes: Uint8Array, opts: RewriteOptions): Generator<void, Rewritten> {
  const pre = prescan(bytes)
  const st: State = { opts, ctx: { relaxedSimd: false, floatSimd: false, exceptions: false, label: -1 }, hasMemory: pre.hasMemory, start: pre.start, types: 0, importedFuncs: 0, definedFuncs: 0, globals: 0, growType: 0, typeParams: [], funcTypes: new Uint32Array(0) }
  const out = new Writer(Math.ceil(bytes.byteLength * 1.25) + 256)
  out.bytes(bytes.subarray(0, 8))
  // Sections this rewrite must write even when the module has none, in binary-format order.
  const needed = [TYPE, FUNCTION, GLOBAL, EXPORT, CODE]
  const emitMissing = (upTo: number): void => {
    while (needed.length > 0 && ORDER[needed[0]!]! < upTo) {
      const id = needed.shift()!
      const empty = new Uint8Array([0])
      writeSection(out, id, runSteps(rewriteSection(id, new Reader(empty), st)))
    }
  }
  const r = new Reader(bytes, 8)
  while (!r.done()) {
    const start = r.pos
    const id = r.byte()
    const size = r.u32()
    const body = r.pos
    if (body + size > bytes.byteLength) throw new InvalidModuleError('truncated section')
    r.pos = body + size
    if (id !== 0) emitMissing(ORDER[id] ?? 99)
    const at = needed.indexOf(id)
    if (id === IMPORT) countImports(new Reader(bytes, body, body + size), st)
    if (id === START) continue // exported instead (START_EXPORT)
    if (at === -1) { out.bytes(bytes.subarray(start, body + size)); continue }
    needed.splice(at, 1)
    writeSection(out, id, yield * rewriteSection(id, new Reader(bytes, body, body + size), st))
  }
  emitMissing(99)
  return { bytes: out.result(), relaxedSimd: st.ctx.relaxedSimd, floatSimd: st.ctx.floatSimd }
}

function writeSection (out: Writer, id: number, content: Uint8Array): void {
  out.byte(id)
  out.u32(content.byteLength)
  out.bytes(content)
}

/** A generator's result, run in one go. */
function runSteps<T> (steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
  }
}

/** The new content of one of the sections the rewrite extends (pausing in the code section). */
function * rewriteSection (id: number, r: Reader, st: State): Generator<void, Uint8Array> {
  const w = new Writer(r.end - r.pos + 64)
  const count = r.u32()
  const rest = r.pos
  // Every entry takes at least a byte: a count past the section's bytes is a lie, not an allocation.
  if (count > r.end - r.pos) throw new InvalidModuleError(`section ${id} claims ${count} entries in ${r.end - r.pos} bytes`)
  if (id === TYPE) {
    // The count is of rec groups; the new type's index is the number of types they define.
    for (let i = 0; i < count; i++) recGroup(r, st.typeParams)
    st.types = st.typeParams.length
    st.growType = st.types
    w.u32(count + (st.hasMemory ? 1 : 0))
    w.bytes(r.bytes.subarray(rest, r.end))
    if (st.hasMemory) w.bytes([0x60, 1, 0x7f, 1, 0x7f]) // (func (param i32) (result i32))
  } else if (id === FUNCTION) {
    st.definedFuncs = count
    st.funcTypes = new Uint32Array(count)
    for (let i = 0; i < count; i++) st.funcTypes[i] = r.u32()
    w.u32(count + (st.hasMemory ? 1 : 0))
    w.bytes(r.bytes.subarray(rest, r.end))
    if (st.hasMemory) w.u32(st.growType)
  } else if (id === GLOBAL) {
    st.globals = count
    w.u32(count + 2)
    w.bytes(r.bytes.subarray(rest, r.end))
    w.bytes([0x7e, 0x01, 0x42, 0x00, 0x0b]) // (global (mut i64) (i64.const 0)): fuel
    w.bytes([0x7f, 0x01, 0x41, 0x00, 0x0b]) // (global (mut i32) (i32.const 0)): refused grow
  } else if (id === EXPORT) {
    for (let i = 0; i < count; i++) {
      const name = r.name()
      if (name === FUEL_EXPORT || name === GROW_REFUSED_EXPORT || name === START_EXPORT) throw new InvalidModuleError(`export name "${name}" is reserved for the node`)
      r.byte()
      r.u32()
    }
    const added: Array<[string, number, number]> = [[FUEL_EXPORT, 0x03, st.globals], [GROW_REFUSED_EXPORT, 0x03, st.globals + 1]]
    if (st.start !== undefined) added.push([START_EXPORT, 0x00, st.start])
    w.u32(count + added.length)
    w.bytes(r.bytes.subarray(rest, r.end))
    for (const [name, kind, index] of added) {
      const b = new TextEncoder().encode(name)
      w.u32(b.byteLength); w.bytes(b); w.byte(kind); w.u32(index)
    }
  } else if (id === CODE) {
    if (count !== st.definedFuncs) throw new InvalidModuleError('function and code sections have different lengths')
    w.u32(count + (st.hasMemory ? 1 : 0))
    const scratch = new Writer(4096)
    const fuel = st.globals
    const grow = st.importedFuncs + st.definedFuncs
    let pauseAt = r.pos + REWRITE_SLICE_BYTES
    for (let i = 0; i < count; i++) {
      if (r.pos >= pauseAt) { yield; pauseAt = r.pos + REWRITE_SLICE_BYTES }
      const size = r.u32()
      if (size > MAX_FUNCTION_BODY_BYTES) throw new InvalidModuleError(`function ${i} is ${size} bytes, more than the engine compiles (${MAX_FUNCTION_BODY_BYTES})`)
      const end = r.pos + size
      if (end > r.end) throw new InvalidModuleError('truncated function body')
      scratch.length = 0
      rewriteBody(new Reader(r.bytes, r.pos, end), scratch, st, fuel, grow, st.typeParams[st.funcTypes[i]!] ?? 0)
      w.u32(scratch.length)
      w.bytes(scratch.result())
      r.pos = end
    }
    if (st.hasMemory) {
      const body = growBody(st.globals + 1, st.opts.capPages, st.opts.ownMaxPages)
      w.u32(body.length)
      w.bytes(body)
    }
  }
  return w.result()
}

/**
 * The injected `$grow`: memory.grow, recording a failure when the size asked is past the cap's
 * maximum but within the module's own (so a bigger cap would have granted it). A grow no cap
 * could grant, or one the system failed below the cap, is not recorded.
 */
function growBody (refused: number, capPages: number, ownMaxPages: number): number[] {
  return [
    0x02, 0x01, 0x7f, 0x01, 0x7e, // locals: 1 (i32) the result, 2 (i64) the size asked
    0x20, 0x00, 0x40, 0x00, 0x22, 0x01, // local.get 0; memory.grow; local.tee 1
    0x41, 0x7f, 0x46, 0x04, 0x40, // i32.const -1; i32.eq; if
    0x3f, 0x00, 0xad, 0x20, 0x00, 0xad, 0x7c, 0x22, 0x02, // local 2 (i64) := memory.size + pages asked
    0x42, ...sleb(BigInt(Math.min(ownMaxPages, MAX_PAGES))), 0x58, // <= own maximum (i64.le_u)
    0x20, 0x02, 0x42, ...sleb(BigInt(capPages)), 0x56, 0x71, // and > the cap's maximum (i64.gt_u); i32.and
    0x04, 0x40, 0x20, 0x00, 0x24, ...uleb(refused), 0x0b, // if: refused := pages asked
    0x0b,
    0x20, 0x01, 0x0b // local.get 1; end
  ]
}

/**
 * One function body: first decoded to find its stretches, calls, exits and memory.grow sites,
 * then copied with the charges inserted and each memory.grow replaced by `call $grow`.
 *
 * The fuel is kept in a local of the function (a register, not a load and store of the global
 * per stretch: that cost 21% on the SHA-256 kernel, the local 1–4%): loaded from the global at entry and after each call,
 * written back before each call and before the function is left (return, tail call, throw, a
 * branch to the function's label, its end) and before the exhaustion trap. A function with
 * exception handling charges the global directly: a handler is entered from a callee's throw,
 * and its label also by ordinary branches, so the local could not be reloaded there alone.
 * (When the guest itself traps, charges since the last write-back are not in the global: the
 * fuel used of a trapped job is counted up to its last call or return, the same on every run.)
 */
function rewriteBody (r: Reader, w: Writer, st: State, fuel: number, grow: number, params: number): void {
  const ctx = st.ctx
  ctx.exceptions = false
  const groups = r.u32()
  const declStart = r.pos
  let locals = params
  for (let i = 0; i < groups; i++) { locals += r.u32(); valType(r) }
  const codeStart = r.pos
  // Positions in the body, each list in increasing order.
  const charges: number[] = [] // pairs: position, cost
  const grows: number[] = [] // pairs: start, end
  const flushes: number[] = [] // before these instructions
  const reloads: number[] = [] // after calls: the position of the next instruction
  const bulks: number[] = [] // before bulk operations
  const nans: number[] = [] // pairs: position, 32 or 64 (a float's bits about to become visible)
  let segStart = r.pos
  let segCost = 0
  let live = true
  // Open blocks, innermost last: 1 for a loop (its end is no branch target: nothing to charge there).
  const open: number[] = []
  const close = (next: number, nextLive: boolean): void => {
    if (live && segCost > 0) charges.push(segStart, segCost)
    segStart = next
    segCost = 0
    live = nextLive
  }
  for (;;) {
    const at = r.pos
    ctx.label = -1
    const kind = decode(r, ctx)
    segCost++
    // A branch to the function's own label returns from it.
    if (ctx.label === open.length) flushes.push(at)
    if (kind === Kind.Plain) continue
    if (kind === Kind.Call) { flushes.push(at); reloads.push(r.pos); continue }
    if (kind === Kind.Bulk) { bulks.push(at); continue }
    if (kind === Kind.F32Bits || kind === Kind.F64Bits) { nans.push(at, kind === Kind.F32Bits ? 32 : 64); continue }
    if (kind === Kind.Grow) { grows.push(at, r.pos); continue }
    if (kind === Kind.Open) { open.push(0); continue }
    if (kind === Kind.Loop || kind === Kind.If) { open.push(kind === Kind.Loop ? 1 : 0); close(r.pos, true); continue }
    if (kind === Kind.End || kind === Kind.Delegate) {
      if (open.length === 0) {
        if (kind === Kind.Delegate) throw new InvalidModuleError('delegate outside a try block')
        flushes.push(at)
        close(r.pos, false)
        break
      }
      // The end of a loop is reached only by falling through: the stretch goes on.
      if (open.pop() === 0) close(r.pos, true)
      continue
    }
    if (kind === Kind.Leave) { if (ctx.label !== open.length) flushes.push(at); close(r.pos, false); continue }
    if (kind === Kind.Terminal) { close(r.pos, false); continue }
    close(r.pos, true) // else, catch, conditional branches
  }
  if (r.pos !== r.end) throw new InvalidModuleError('function body has bytes after its end')
  const metered = st.opts.metered
  const cached = metered && !ctx.exceptions
  const lengths = metered && bulks.length > 0
  const canonical = st.opts.canonicalNaN === true && nans.length > 0
  // Locals: the body's own, plus the fuel local when the fuel is cached in one, an i32 for a
  // bulk operation's length, an f32 and an f64 for NaN canonicalization.
  w.u32(groups + (cached ? 1 : 0) + (lengths ? 1 : 0) + (canonical ? 2 : 0))
  w.bytes(r.bytes.subarray(declStart, codeStart))
  const local = locals
  const length = uleb(locals + (cached ? 1 : 0))
  const f32 = uleb(locals + (cached ? 1 : 0) + (lengths ? 1 : 0))
  const f64 = uleb(locals + (cached ? 1 : 0) + (lengths ? 1 : 0) + 1)
  if (cached) w.bytes([0x01, 0x7e])
  if (lengths) w.bytes([0x01, 0x7f])
  if (canonical) w.bytes([0x01, 0x7d, 0x01, 0x7c])
  if (cached) w.bytes([0x23, ...uleb(fuel), 0x21, ...uleb(local)])
  const g = uleb(fuel)
  const l = uleb(local)
  const chargeCode = (cost: number): number[] => cached
    ? [0x20, ...l, 0x42, ...sleb(BigInt(cost)), 0x7d, 0x22, ...l, 0x42, 0x00, 0x53, 0x04, 0x40, 0x20, ...l, 0x24, ...g, 0x00, 0x0b]
    : [0x23, ...g, 0x42, ...sleb(BigInt(cost)), 0x7d, 0x24, ...g, 0x23, ...g, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b]
  const flushCode = [0x20, ...l, 0x24, ...g]
  // fuel -= length >> BULK_SHIFT (the length stays on the stack for the operation).
  const bulkCode = cached
    ? [0x22, ...length, 0x20, ...l, 0x20, ...length, 0xad, 0x42, BULK_SHIFT, 0x88, 0x7d, 0x22, ...l, 0x42, 0x00, 0x53, 0x04, 0x40, 0x20, ...l, 0x24, ...g, 0x00, 0x0b]
    : [0x22, ...length, 0x23, ...g, 0x20, ...length, 0xad, 0x42, BULK_SHIFT, 0x88, 0x7d, 0x24, ...g, 0x23, ...g, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b]
  const reloadCode = [0x23, ...g, 0x21, ...l]
  const callGrow = [0x10, ...uleb(grow)]
  // x == x ? x : the canonical NaN (positive, quiet, payload 0), the value staying on the stack.
  const nanCode = (bits: number): number[] => bits === 32
    ? [0x22, ...f32, 0x43, 0x00, 0x00, 0xc0, 0x7f, 0x20, ...f32, 0x20, ...f32, 0x5b, 0x1b]
    : [0x22, ...f64, 0x44, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0x20, ...f64, 0x20, ...f64, 0x61, 0x1b]
  // Merge the lists; at one position: reload (after the call before), charge, flush, bulk, NaN, grow.
  let copied = codeStart
  let ir = 0; let ic = 0; let iflush = 0; let ib = 0; let inan = 0; let ig = 0
  const INF = Number.MAX_SAFE_INTEGER
  for (;;) {
    const pr = cached && ir < reloads.length ? reloads[ir]! : INF
    const pc = metered && ic < charges.length ? charges[ic]! : INF
    const pf = cached && iflush < flushes.length ? flushes[iflush]! : INF
    const pb = lengths && ib < bulks.length ? bulks[ib]! : INF
    const pn = canonical && inan < nans.length ? nans[inan]! : INF
    const pg = ig < grows.length ? grows[ig]! : INF
    const p = Math.min(pr, pc, pf, pb, pn, pg)
    if (p === INF) break
    w.bytes(r.bytes.subarray(copied, p))
    copied = p
    if (pr === p) { w.bytes(reloadCode); ir++ } else if (pc === p) { w.bytes(chargeCode(charges[ic + 1]!)); ic += 2 } else if (pf === p) { w.bytes(flushCode); iflush++ } else if (pb === p) { w.bytes(bulkCode); ib++ } else if (pn === p) { w.bytes(nanCode(nans[inan + 1]!)); inan += 2 } else { w.bytes(callGrow); copied = grows[ig + 1]!; ig += 2 }
  }
  w.bytes(r.bytes.subarray(copied, r.end))
}

function countImports (r: Reader, st: State): void {
  const n = r.u32()
  for (let i = 0; i < n; i++) {
    r.name()
    r.name()
    const kind = r.byte()
    // Admission allows function imports only; anything else would shift the global indices.
    if (kind !== 0) throw new InvalidModuleError('only function imports are allowed')
    r.u32()
    st.importedFuncs++
  }
}

/** Whether the module defines a memory, and its start function: both needed before their sections. */
function prescan (bytes: Uint8Array): { hasMemory: boolean, start: number | undefined } {
  const r = new Reader(bytes, 8)
  let hasMemory = false
  let start: number | undefined
  while (!r.done()) {
    const id = r.byte()
    const size = r.u32()
    if (id === MEMORY && size > 0) hasMemory = new Reader(bytes, r.pos, r.pos + size).u32() > 0
    if (id === START) start = new Reader(bytes, r.pos, r.pos + size).u32()
    r.skip(size)
  }
  return { hasMemory, start }
}

/** Reads one type section entry, adding the parameter count of each type it defines to `params`. */
function recGroup (r: Reader, params: number[]): void {
  if (r.peek() !== 0x4e) { params.push(subType(r)); return }
  r.byte()
  const n = r.u32()
  for (let i = 0; i < n; i++) params.push(subType(r))
}

/** Skips a subtype; returns its parameter count (0 unless a function type). */
function subType (r: Reader): number {
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
    return params
  } else if (form === 0x5f) {
    const fields = r.u32()
    for (let k = 0; k < fields; k++) { valType(r); r.byte() }
  } else if (form === 0x5e) {
    valType(r); r.byte()
  } else {
    throw new InvalidModuleError(`unknown type form 0x${form.toString(16)}`)
  }
  return 0
}

/** A value or storage type (i8/i16 are single bytes like the number types). */
function valType (r: Reader): void {
  const b = r.byte()
  if (b === 0x63 || b === 0x64) r.leb()
}
