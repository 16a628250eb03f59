/**
 * JSON Schema validators of the documents, compiled once (lazily) from `schemas/`, and the one
 * way their errors become a short, safe message naming the field ("/limits/timeout_ms must be
 * integer"). Messages may quote client input, so they are escaped and bounded before use.
 */
import type { Ajv2020, ValidateFunction, ErrorObject } from 'ajv/dist/2020.js'
import { loadAjv } from '#ajv'
import manifestSchema from '@phase-network/schemas/manifest.schema.json' with { type: 'json' }
import manifestV01Schema from '@phase-network/schemas/manifest-v0.1.schema.json' with { type: 'json' }
import receiptSchema from '@phase-network/schemas/receipt.schema.json' with { type: 'json' }
import configSchema from '@phase-network/schemas/config.schema.json' with { type: 'json' }
import capabilitySchema from '@phase-network/schemas/capability.schema.json' with { type: 'json' }
import { escapePointer } from './json.ts'

const SCHEMAS = { manifest: manifestSchema, manifestV01: manifestV01Schema, receipt: receiptSchema, config: configSchema, capability: capabilitySchema } as const
export type SchemaName = keyof typeof SCHEMAS

/** Longest message a schema error may produce (it ends up in logs and client responses). */
const MAX_MESSAGE = 200

let ajv: Ajv2020 | undefined
const compiled = new Map<SchemaName, ValidateFunction>()

/** The compiled validator of one schema (compiled on first use, then reused). */
export function validator (name: SchemaName): ValidateFunction {
  let fn = compiled.get(name)
  if (fn === undefined) {
    // allErrors stays off: the first error is all we report, and stopping early bounds the work.
    // In Node ajv is loaded here, on first use (#ajv: documents/ajv-node.ts).
    if (ajv === undefined) {
      const Ajv = loadAjv()
      ajv = withFormats(new Ajv({ allErrors: false, strict: true }))
    }
    fn = ajv.compile(SCHEMAS[name])
    compiled.set(name, fn)
  }
  return fn
}

/** The schemas compiled so far in this process (tests: what a process prepared during its start). */
export function compiledSchemas (): SchemaName[] {
  return [...compiled.keys()]
}

/** The schemas' own formats (ajv refuses unknown ones in strict mode). */
function withFormats (instance: Ajv2020): Ajv2020 {
  instance.addFormat('phase-canonical-base64', { type: 'string', validate: isCanonicalBase64 })
  return instance
}

const BASE64 = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64[c.charCodeAt(0)] = 1

/**
 * Canonical standard base64 (RFC 4648 §4, padded, unused bits zero), in one linear pass: the
 * equivalent regular expression `^(?:[A-Za-z0-9+/]{4})*(?:..==|...=)?$` keeps a backtrack entry
 * per group and overflows V8's stack on stdin past ~3.4 MB.
 */
export function isCanonicalBase64 (s: string): boolean {
  if (s.length % 4 !== 0) return false
  let end = s.length
  if (s.endsWith('==')) {
    end -= 2
    if (!'AQgw'.includes(s[end - 1]!)) return false
  } else if (s.endsWith('=')) {
    end -= 1
    if (!'AEIMQUYcgkosw048'.includes(s[end - 1]!)) return false
  }
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c >= 128 || BASE64[c] === 0) return false
  }
  return true
}

/** A one-line description of the first schema error, e.g. "/limits/timeout_ms must be >= 1". */
export function describeError (errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0]
  if (e === undefined) return 'is invalid'
  let where = e.instancePath === '' ? '(top level)' : e.instancePath
  let detail = e.message ?? 'is invalid'
  if (e.keyword === 'additionalProperties') {
    detail = `has unknown field '${String(e.params.additionalProperty)}'`
  } else if (e.keyword === 'propertyNames' || e.propertyName !== undefined) {
    const name = String(e.params.propertyName ?? e.propertyName)
    where = `${e.instancePath}/${escapePointer(name)}`
    detail = 'is not an allowed name'
  } else if (e.keyword === 'required') {
    where = `${e.instancePath}/${escapePointer(String(e.params.missingProperty))}`
    detail = 'is required'
  } else if (e.keyword === 'enum' || e.keyword === 'const') {
    detail = `${detail}: ${JSON.stringify(e.params.allowedValues ?? e.params.allowedValue)}`
  } else if (e.keyword === 'pattern' || e.keyword === 'format') {
    detail = describePattern(e.instancePath)
  }
  return sanitize(`${where} ${detail}`)
}

/** Patterns are unreadable in a message; say what the field must look like instead. */
function describePattern (pointer: string): string {
  const field = pointer.slice(pointer.lastIndexOf('/') + 1)
  if (field.endsWith('hash') || field === 'job_id') return 'must be "sha256:" followed by 64 lowercase hex digits'
  if (field === 'nonce') return 'must be 32 to 64 lowercase hex digits'
  if (field === 'public_key') return 'must be 64 lowercase hex digits'
  if (field === 'signature') return 'must be 128 lowercase hex digits'
  if (field === 'stdin') return 'must be canonical standard base64 (padded)'
  if (field.endsWith('_at')) return 'must be an RFC 3339 UTC time, e.g. 2024-01-01T00:00:00Z'
  if (field === 'peer_id') return 'must be a base58 libp2p PeerId'
  return 'has the wrong format'
}

/** Printable ASCII only (the rest as \uXXXX), at most MAX_MESSAGE characters. */
export function sanitize (text: string): string {
  const escaped = text.replace(/[^\x20-\x7e]/gu, c => `\\u{${c.codePointAt(0)!.toString(16)}}`)
  return escaped.length <= MAX_MESSAGE ? escaped : `${escaped.slice(0, MAX_MESSAGE - 1)}…`
}
