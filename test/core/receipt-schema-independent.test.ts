/**
 * schemas/receipt.schema.json read by an independent validator (Python's `jsonschema`, Draft
 * 2020-12) gives the same verdict as the node's (ajv) on every receipt of the shared vectors —
 * so the issue-12 rules written in the schema (trap only with status trap; fuel_used, the
 * deterministic profile and fuel_exhausted only with limits.fuel; at most 256 outputs, paths
 * under /out) mean the same to other implementations. Sorted, unique outputs are beyond the
 * schema: that is checked by code in every verifier (the vectors' `outputs_unsorted` cases).
 */
import { describe, it, expect } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { validator } from '../../services/core/protocol/src/documents/validate.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { VECTORS_FILE } from '../vectors/generate.ts'

const SCRIPT = `
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
print(json.dumps([v.is_valid(doc) for doc in json.load(sys.stdin)]))
`

describe('receipt schema', () => {
  it('gives the same verdict in Python jsonschema (Draft 2020-12) as in ajv on every vector receipt that parses', () => {
    const cases = (JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { cases: Array<{ name: string, receipt_json: string }> }).cases
    const docs: Array<{ name: string, doc: unknown }> = []
    for (const c of cases) {
      try { docs.push({ name: c.name, doc: JSON.parse(c.receipt_json.replace(/^\uFEFF/, '')) }) } catch { /* not JSON: refused before any schema */ }
    }
    const run = spawnSync('python3', ['-c', SCRIPT, join(ROOT, 'schemas/receipt.schema.json')], { input: JSON.stringify(docs.map(d => d.doc)), encoding: 'utf8', timeout: 60_000 })
    expect(`exit ${run.status} ${run.stderr}`).toBe('exit 0 ')
    const python = JSON.parse(run.stdout) as boolean[]
    const validate = validator('receipt')
    const ajv = docs.map(d => validate(d.doc))
    expect(docs.map((d, i) => `${d.name}: ${python[i]}`)).toEqual(docs.map((d, i) => `${d.name}: ${ajv[i]}`))
    // Both refuse the issue-12 rule breakers, and accept the new valid shapes.
    const verdict = (name: string): boolean => python[docs.findIndex(d => d.name === name)]!
    for (const name of ['trap_with_status_ok', 'fuel_used_unmetered', 'deterministic_unmetered', 'fuel_exhausted_unmetered', 'outputs_too_many', 'output_path_escapes', 'output_outside_out', 'unknown_trap_reason', 'default_profile_named']) {
      expect(`${name}: ${verdict(name)}`).toBe(`${name}: false`)
    }
    for (const name of ['valid_outputs', 'valid_fuel_deterministic', 'valid_fuel_exhausted', 'valid_metered_timeout', 'valid_trap_stack_overflow', 'valid_compile_time']) {
      expect(`${name}: ${verdict(name)}`).toBe(`${name}: true`)
    }
  })
})
