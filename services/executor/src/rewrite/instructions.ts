/**
 * Decodes one instruction of a function body: skips its immediates and says what it does to
 * control flow, which is all the rewriter needs (where straight-line code starts and ends, and
 * where memory.grow is). Every opcode V8 accepts in a module admission lets through is listed:
 * MVP, sign extension, saturating conversions, bulk memory and tables, reference types,
 * tail calls, typed function references, GC, exception handling (legacy `try` and `try_table`),
 * fixed-width and relaxed SIMD, and atomics (on an unshared memory). Anything else is an
 * InvalidModuleError: an instruction we cannot decode is never let through unmetered.
 * Opcodes: https://webassembly.github.io/spec/core/binary/instructions.html and the proposals'
 * overviews (exception handling, GC, relaxed SIMD, threads).
 */
import { InvalidModuleError } from '@phase-network/protocol/errors'
import type { Reader } from './bytes.ts'

/** What an instruction does to control flow (plain numbers: type stripping has no enums). */
export const Kind = {
  /** No effect on control flow (calls included: the callee charges its own fuel). */
  Plain: 0,
  /** block, try, try_table: a nested block entered by falling through. */
  Open: 1,
  /** loop: a nested block whose start is a branch target. */
  Loop: 2,
  /** if: a nested block entered conditionally. */
  If: 3,
  /** else: the start of the else arm. */
  Else: 4,
  /** end of a block, or of the function at depth 0. */
  End: 5,
  /** catch, catch_all (legacy exception handling): entered by an exception. */
  Catch: 6,
  /** delegate: ends a legacy `try` block. */
  Delegate: 7,
  /** A conditional branch: the next instruction starts a new stretch. */
  Branch: 8,
  /** Never falls through (br, br_table, return, throw, unreachable, return_call…). */
  Terminal: 9,
  /** memory.grow. */
  Grow: 10,
  /** call, call_indirect, call_ref: the callee may read and charge the fuel. */
  Call: 11,
  /** Leaves the function (return, return_call*, throw, rethrow, throw_ref): never falls through. */
  Leave: 12,
  /** memory.fill/copy/init, table.fill/copy/init: work in proportion to the length on top of the stack. */
  Bulk: 13,
  /** f32.store, i32.reinterpret_f32, f32x4.splat/replace_lane: the bits of the f32 on top of the stack become visible. */
  F32Bits: 14,
  /** f64.store, i64.reinterpret_f64, f64x2.splat/replace_lane: the bits of the f64 on top of the stack become visible. */
  F64Bits: 15
} as const
export type Kind = typeof Kind[keyof typeof Kind]

export interface DecodeContext {
  /** Set when a relaxed SIMD instruction is seen: its results may differ between CPUs. */
  relaxedSimd: boolean
  /** Set when a SIMD float operation that can make a NaN is seen: its bits differ between CPUs. */
  floatSimd: boolean
  /** Set when exception handling (try, try_table, catch…) is seen. */
  exceptions: boolean
  /** The branch's label (the largest one of a br_table); -1 for an instruction that does not branch. */
  label: number
}

const unknown = (op: string, r: Reader): never => {
  throw new InvalidModuleError(`unsupported instruction ${op} at byte ${r.pos} of the module`)
}

/** Block type: empty (0x40), a value type, or a type index (s33). */
function blockType (r: Reader): void {
  const b = r.peek()
  if (b === 0x63 || b === 0x64) { r.byte(); r.leb() } else r.leb()
}

function valType (r: Reader): void {
  const b = r.byte()
  if (b === 0x63 || b === 0x64) r.leb()
}

/** memarg: alignment flags (bit 6: a memory index follows), offset. */
function memarg (r: Reader): void {
  const align = r.u32()
  if ((align & 0x40) !== 0) r.u32()
  r.leb()
}

/** Reads the instruction at `r.pos` (its opcode and immediates) and returns its kind. */
export function decode (r: Reader, ctx: DecodeContext): Kind {
  const op = r.byte()
  if (op >= 0x45 && op <= 0xc4) return op === 0xbc ? Kind.F32Bits : op === 0xbd ? Kind.F64Bits : Kind.Plain // numeric, no immediates
  if (op >= 0x28 && op <= 0x3e) { memarg(r); return op === 0x38 ? Kind.F32Bits : op === 0x39 ? Kind.F64Bits : Kind.Plain } // loads and stores
  if (op >= 0x20 && op <= 0x26) { r.u32(); return Kind.Plain } // local.*, global.*, table.get/set
  switch (op) {
    case 0x00: return Kind.Terminal // unreachable
    case 0x01: return Kind.Plain // nop
    case 0x02: blockType(r); return Kind.Open // block
    case 0x03: blockType(r); return Kind.Loop
    case 0x04: blockType(r); return Kind.If
    case 0x05: return Kind.Else
    case 0x06: blockType(r); ctx.exceptions = true; return Kind.Open // try (legacy)
    case 0x07: r.u32(); ctx.exceptions = true; return Kind.Catch // catch tag (legacy)
    case 0x08: r.u32(); return Kind.Leave // throw tag
    case 0x09: r.u32(); return Kind.Leave // rethrow label (legacy)
    case 0x0a: return Kind.Leave // throw_ref
    case 0x0b: return Kind.End
    case 0x0c: ctx.label = r.u32(); return Kind.Terminal // br
    case 0x0d: ctx.label = r.u32(); return Kind.Branch // br_if
    case 0x0e: { const n = r.u32(); for (let i = 0; i <= n; i++) ctx.label = Math.max(ctx.label, r.u32()); return Kind.Terminal } // br_table
    case 0x0f: return Kind.Leave // return
    case 0x10: r.u32(); return Kind.Call // call
    case 0x11: r.u32(); r.u32(); return Kind.Call // call_indirect type table
    case 0x12: r.u32(); return Kind.Leave // return_call
    case 0x13: r.u32(); r.u32(); return Kind.Leave // return_call_indirect
    case 0x14: r.u32(); return Kind.Call // call_ref
    case 0x15: r.u32(); return Kind.Leave // return_call_ref
    case 0x18: r.u32(); ctx.exceptions = true; return Kind.Delegate // delegate label (legacy)
    case 0x19: ctx.exceptions = true; return Kind.Catch // catch_all (legacy)
    case 0x1a: case 0x1b: return Kind.Plain // drop, select
    case 0x1c: { const n = r.u32(); for (let i = 0; i < n; i++) valType(r); return Kind.Plain } // select t*
    case 0x1f: { // try_table bt catch*
      blockType(r)
      ctx.exceptions = true
      const n = r.u32()
      for (let i = 0; i < n; i++) {
        const kind = r.byte()
        if (kind === 0 || kind === 1) { r.u32(); r.u32() } else if (kind === 2 || kind === 3) r.u32()
        else unknown(`try_table catch kind ${kind}`, r)
      }
      return Kind.Open
    }
    case 0x3f: r.u32(); return Kind.Plain // memory.size
    case 0x40: r.u32(); return Kind.Grow // memory.grow
    case 0x41: case 0x42: r.leb(); return Kind.Plain // i32/i64.const
    case 0x43: r.skip(4); return Kind.Plain // f32.const
    case 0x44: r.skip(8); return Kind.Plain // f64.const
    case 0xd0: r.leb(); return Kind.Plain // ref.null ht
    case 0xd1: case 0xd3: case 0xd4: return Kind.Plain // ref.is_null, ref.eq, ref.as_non_null
    case 0xd2: r.u32(); return Kind.Plain // ref.func
    case 0xd5: case 0xd6: ctx.label = r.u32(); return Kind.Branch // br_on_null, br_on_non_null
    case 0xfb: return gc(r, ctx)
    case 0xfc: return misc(r)
    case 0xfd: return simd(r, ctx)
    case 0xfe: return atomic(r)
  }
  return unknown(`0x${op.toString(16)}`, r)
}

function gc (r: Reader, ctx: DecodeContext): Kind {
  const sub = r.u32()
  switch (sub) {
    case 0: case 1: case 6: case 7: case 11: case 12: case 13: case 14: case 16: r.u32(); return Kind.Plain
    case 2: case 3: case 4: case 5: case 8: case 9: case 10: case 17: case 18: case 19: r.u32(); r.u32(); return Kind.Plain
    case 15: return Kind.Plain // array.len
    case 20: case 21: case 22: case 23: r.leb(); return Kind.Plain // ref.test, ref.cast (null) ht
    case 24: case 25: r.byte(); ctx.label = r.u32(); r.leb(); r.leb(); return Kind.Branch // br_on_cast(_fail) flags l ht ht
    case 26: case 27: case 28: case 29: case 30: return Kind.Plain // conversions, i31
  }
  return unknown(`0xfb ${sub}`, r)
}

function misc (r: Reader): Kind {
  const sub = r.u32()
  if (sub <= 7) return Kind.Plain // trunc_sat
  switch (sub) {
    case 8: case 10: case 12: case 14: r.u32(); r.u32(); return Kind.Bulk // memory.init, memory.copy, table.init, table.copy
    case 11: case 17: r.u32(); return Kind.Bulk // memory.fill, table.fill
    case 9: case 13: case 15: case 16: r.u32(); return Kind.Plain // data.drop, elem.drop, table.grow/size
  }
  return unknown(`0xfc ${sub}`, r)
}

function simd (r: Reader, ctx: DecodeContext): Kind {
  const sub = r.u32()
  if (sub <= 11 || sub === 92 || sub === 93) { memarg(r); return Kind.Plain } // loads, store, load_zero
  if (sub === 12 || sub === 13) { r.skip(16); return Kind.Plain } // v128.const, i8x16.shuffle
  // A scalar float put into a v128 (splat, replace_lane): its bits show through integer lanes.
  if (sub === 19) return Kind.F32Bits // f32x4.splat
  if (sub === 20) return Kind.F64Bits // f64x2.splat
  if (sub >= 21 && sub <= 34) { r.byte(); return sub === 32 ? Kind.F32Bits : sub === 34 ? Kind.F64Bits : Kind.Plain } // extract/replace lane
  if (sub >= 84 && sub <= 91) { memarg(r); r.byte(); return Kind.Plain } // load/store lane
  if (NAN_MAKING_SIMD.has(sub)) ctx.floatSimd = true
  if (sub <= 255) return Kind.Plain
  if (sub <= 0x113) { ctx.relaxedSimd = true; return Kind.Plain }
  return unknown(`0xfd ${sub}`, r)
}

/**
 * SIMD float operations that make or pass on NaNs (arithmetic, sqrt, min/max, rounding,
 * promote/demote): a v128's lanes are visible as integers, so their NaN bits would show.
 */
const NAN_MAKING_SIMD = new Set([0x5e, 0x5f, 0x67, 0x68, 0x69, 0x6a, 0x74, 0x75, 0x7a, 0x94, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5])

function atomic (r: Reader): Kind {
  const sub = r.u32()
  if (sub === 3) { r.byte(); return Kind.Plain } // atomic.fence
  if (sub <= 2 || (sub >= 0x10 && sub <= 0x4e)) { memarg(r); return Kind.Plain }
  return unknown(`0xfe ${sub}`, r)
}
