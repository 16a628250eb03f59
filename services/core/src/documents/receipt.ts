/**
 * The execution receipt: its type, and validation of signed and unsigned receipts against
 * schemas/receipt.schema.json. Portable.
 */
import { InvalidReceiptError } from '../errors.ts'
import { validator, describeError } from './validate.ts'
import { toValue, deepFreeze } from './manifest.ts'

export type ReceiptStatus = 'ok' | 'exit' | 'trap' | 'timeout' | 'memory_limit' | 'output_limit' | 'fuel_exhausted'

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
  exit_code: number
  limits: { memory_bytes: number, timeout_ms: number, output_bytes: number }
  wall_time_us: number
  cpu_time_us: number
  started_at: string
  finished_at: string
  node: { peer_id: string, public_key: string }
  runtime: { name: string, version: string }
}

export interface Receipt extends UnsignedReceipt {
  signature: string
}

/** Parses and validates a signed receipt (JSON text, bytes or value). */
export function parseReceipt (input: unknown): Receipt {
  const doc = toValue(input, 'receipt')
  const validate = validator('receipt')
  if (!validate(doc)) throw new InvalidReceiptError(`receipt: ${describeError(validate.errors)}`)
  if (typeof (doc as { signature?: unknown }).signature !== 'string') throw new InvalidReceiptError('receipt: (top level) must have required property \'signature\'')
  return deepFreeze(doc as Receipt)
}

/** Validates a receipt that is about to be signed: schema-valid and without a signature. */
export function validateUnsignedReceipt (value: unknown): UnsignedReceipt {
  const validate = validator('receipt')
  if (!validate(value)) throw new InvalidReceiptError(`receipt: ${describeError(validate.errors)}`)
  if ('signature' in (value as object)) throw new InvalidReceiptError('receipt to sign must not carry a signature')
  return value as UnsignedReceipt
}
