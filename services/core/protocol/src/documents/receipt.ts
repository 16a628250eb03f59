/**
 * The execution receipt: its type, and validation of signed and unsigned receipts against
 * schemas/receipt.schema.json. Integers only, so its canonical JSON is the same in every
 * language. Portable.
 */
import { InvalidReceiptError } from '../errors.ts'
import { deepFreeze, findIllFormedString, toDocumentValue } from './json.ts'
import { parseReceivedText, receivedText } from './received.ts'
import { describeError, sanitize, validator } from './validate.ts'

export type ReceiptStatus = 'ok' | 'exit' | 'trap' | 'timeout' | 'memory_limit' | 'output_limit' | 'fuel_exhausted'

/** Why a guest trapped (receipt `trap`, present only with status `trap`). */
export type TrapReason = 'unreachable' | 'stack_overflow' | 'memory_out_of_bounds' | 'table_out_of_bounds' |
'indirect_call_mismatch' | 'null_reference' | 'divide_by_zero' | 'integer_overflow' | 'invalid_conversion' |
'cast_failure' | 'uncaught_exception' | 'other'

/** A file the job wrote under /out: its guest path, sha256 and size. */
export interface ReceiptOutput {
  path: string
  hash: string
  bytes: number
}

export interface UnsignedReceipt {
  version: 1
  job_id: string
  nonce: string
  module_hash: string
  inputs_hash: string
  stdout_hash: string
  stdout_bytes: number
  stderr_hash: string
  stderr_bytes: number
  status: ReceiptStatus
  /** The WASI proc_exit code, a u32 in [0, 4294967295] (0 when `_start` returned); -1 when the
   * module did not exit (trap, timeout, limits). */
  exit_code: number
  /** The limits the node applied (after its own caps). */
  limits: { memory_bytes: number, timeout_ms: number, output_bytes: number, fuel?: number }
  /** Files written under /out, sorted by path; absent when none. */
  outputs?: ReceiptOutput[]
  /** Fuel spent, when metered. */
  fuel_used?: number
  /** Present only for the deterministic profile. */
  profile?: 'deterministic'
  /** Present only with status `trap`. */
  trap?: TrapReason
  /** Compile time of a cold module, apart from wall_time_us. */
  compile_time_us?: number
  wall_time_us: number
  cpu_time_us: number
  started_at: string
  finished_at: string
  node: { peer_id: string, public_key: string }
  runtime: { name: string, version: string }
}

export interface Receipt extends UnsignedReceipt {
  /** Ed25519 over 'phase-receipt:v1:' || JCS(receipt without signature), 128 lowercase hex. */
  signature: string
}

/** Parses (JSON text or bytes) or copies (a value), validates a signed receipt; returns it frozen. */
export function parseReceipt (input: unknown): Receipt {
  return signedReceipt(toDocumentValue(input, 'receipt'))
}

/**
 * Bytes of the largest receipt a verifier reads. The schema bounds every field: the largest
 * valid receipt — 256 outputs with 255-character paths and the largest sizes, every runtime
 * character written as a `\u` escape — is under 99 KiB (test/core/receipt.test.ts builds it);
 * anything longer is refused before it is parsed. Mirrored by the PHP SDK (Receipt::MAX_BYTES).
 */
export const MAX_RECEIPT_BYTES = 128 * 1024

/**
 * A signed receipt as received — exact bytes or text, never a parsed value — parsed once and
 * validated; returns it frozen with the exact text, which a verifier must still prove to be the
 * receipt's canonical form (received.ts: canonicalViolation) before trusting any of it.
 */
export function parseReceivedReceipt (input: unknown): { receipt: Receipt, text: string } {
  const text = receivedText(input, 'receipt', MAX_RECEIPT_BYTES)
  // Well-formed text parses to a lone surrogate only through a \uD800–\uDFFF escape.
  return { receipt: signedReceipt(parseReceivedText(text, 'receipt'), SURROGATE_ESCAPE.test(text)), text }
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/

/** A fresh value (nobody else holds it) → a schema-valid signed receipt, frozen. */
function signedReceipt (doc: unknown, mayHoldLoneSurrogate = true): Receipt {
  check(doc, mayHoldLoneSurrogate)
  if (typeof (doc as { signature?: unknown }).signature !== 'string') throw new InvalidReceiptError('receipt: /signature is required')
  return deepFreeze(doc as Receipt)
}

/**
 * Validates a receipt that is about to be signed: schema-valid and without a signature (a
 * signer must never be handed something that already looks signed). Returns the same value.
 */
export function validateUnsignedReceipt (value: unknown): UnsignedReceipt {
  if (typeof value === 'object' && value !== null && 'signature' in value) {
    throw new InvalidReceiptError('receipt to sign must not carry a signature')
  }
  check(value)
  return value as UnsignedReceipt
}

function check (doc: unknown, mayHoldLoneSurrogate = true): void {
  const validate = validator('receipt')
  if (!validate(doc)) throw new InvalidReceiptError(`receipt: ${describeError(validate.errors)}`)
  const disorder = outputsDisorder((doc as UnsignedReceipt).outputs)
  if (disorder !== undefined) throw new InvalidReceiptError(`receipt: ${disorder}`)
  const bad = mayHoldLoneSurrogate ? findIllFormedString(doc) : undefined
  if (bad !== undefined) throw new InvalidReceiptError(sanitize(`receipt: ${bad} is not well-formed Unicode (lone surrogate)`))
}

/**
 * Why a receipt's `outputs` are not strictly increasing by path (so each file is listed once,
 * and a receipt has one spelling of its file list); undefined when they are. The schema cannot
 * say this. Paths are ASCII (the schema's pattern), so code-unit order is byte order in every
 * language.
 */
export function outputsDisorder (outputs: readonly ReceiptOutput[] | undefined): string | undefined {
  if (outputs === undefined) return undefined
  for (let i = 1; i < outputs.length; i++) {
    const previous = outputs[i - 1]!.path
    const path = outputs[i]!.path
    if (path === previous) return sanitize(`/outputs/${i} repeats the path ${path}`)
    if (path < previous) return sanitize(`/outputs/${i} (${path}) comes before /outputs/${i - 1} (${previous}): outputs must be sorted by path`)
  }
  return undefined
}
