/**
 * JSON Schema validators of the documents, compiled once (lazily) from `schemas/`, and the one
 * way their errors are turned into a short message naming the field.
 */
import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js'
import manifestSchema from '../../../../schemas/manifest.schema.json' with { type: 'json' }
import manifestV01Schema from '../../../../schemas/manifest-v0.1.schema.json' with { type: 'json' }
import receiptSchema from '../../../../schemas/receipt.schema.json' with { type: 'json' }
import configSchema from '../../../../schemas/config.schema.json' with { type: 'json' }

const SCHEMAS = { manifest: manifestSchema, manifestV01: manifestV01Schema, receipt: receiptSchema, config: configSchema } as const
export type SchemaName = keyof typeof SCHEMAS

let ajv: Ajv2020 | undefined
const compiled = new Map<SchemaName, ValidateFunction>()

/** The compiled validator of one schema (compiled on first use, then reused). */
export function validator (name: SchemaName): ValidateFunction {
  let fn = compiled.get(name)
  if (fn === undefined) {
    ajv ??= new Ajv2020({ allErrors: false, strict: true })
    fn = ajv.compile(SCHEMAS[name])
    compiled.set(name, fn)
  }
  return fn
}

/** A one-line description of the first schema error, e.g. "/limits/timeout_ms must be >= 1". */
export function describeError (errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0]
  if (e === undefined) return 'is invalid'
  const where = e.instancePath === '' ? '(top level)' : e.instancePath
  let detail = e.message ?? 'is invalid'
  if (e.keyword === 'additionalProperties') detail = `has unknown field '${String(e.params.additionalProperty).slice(0, 60)}'`
  else if (e.keyword === 'enum' || e.keyword === 'const') detail = `${detail}: ${JSON.stringify(e.params.allowedValues ?? e.params.allowedValue)}`
  return `${where.slice(0, 120)} ${detail}`
}
