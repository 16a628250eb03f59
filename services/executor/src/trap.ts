/**
 * The reason of a trap, from what V8 threw out of the guest: a WebAssembly.RuntimeError whose
 * message is V8's trap text (src/common/message-template.h, `WasmTrap*`), a RangeError for a
 * stack overflow, a WebAssembly.Exception for a wasm exception nobody caught. Anything else
 * (a host error, a missing export) is `other`.
 */

export type TrapReason =
  | 'unreachable' | 'stack_overflow' | 'memory_out_of_bounds' | 'table_out_of_bounds'
  | 'indirect_call_mismatch' | 'null_reference' | 'divide_by_zero' | 'integer_overflow'
  | 'invalid_conversion' | 'cast_failure' | 'uncaught_exception' | 'other'

/** V8's trap messages, matched in order. */
const RUNTIME_ERRORS: Array<[RegExp, TrapReason]> = [
  [/^unreachable/, 'unreachable'],
  [/memory access out of bounds|data segment out of bounds|unaligned access/, 'memory_out_of_bounds'],
  [/table index is out of bounds|table access out of bounds|element segment out of bounds|invalid index into function table/, 'table_out_of_bounds'],
  [/function signature mismatch/, 'indirect_call_mismatch'],
  [/null pointer|null reference/, 'null_reference'],
  [/divide by zero|remainder by zero/, 'divide_by_zero'],
  [/divide result unrepresentable/, 'integer_overflow'],
  [/float unrepresentable in integer range/, 'invalid_conversion'],
  [/illegal cast/, 'cast_failure']
]

/** The reason of a trap from V8's message text alone (an engine that reports traps as text). */
export function trapReasonOfMessage (message: string): TrapReason {
  if (message.includes('Maximum call stack size exceeded')) return 'stack_overflow'
  for (const [pattern, reason] of RUNTIME_ERRORS) if (pattern.test(message)) return reason
  return 'other'
}

export function trapReason (err: unknown): TrapReason {
  if (err instanceof WebAssembly.Exception) return 'uncaught_exception'
  if (err instanceof RangeError && err.message.includes('Maximum call stack size exceeded')) return 'stack_overflow'
  if (err instanceof WebAssembly.RuntimeError) {
    for (const [pattern, reason] of RUNTIME_ERRORS) if (pattern.test(err.message)) return reason
  }
  return 'other'
}
