/**
 * Validates HTTP answers against an OpenAPI 3.1 document with ajv's JSON Schema 2020-12 (the
 * dialect of OpenAPI 3.1 schemas): the request path is matched to its path template, the
 * answer's status to its response (exact, then `4XX`/`5XX`, then `default`).
 */
import { Ajv2020 } from 'ajv/dist/2020.js'
import { isCanonicalBase64 } from '../../services/core/protocol/src/documents/validate.ts'

interface Doc { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }

const pointer = (...parts: string[]): string => parts.map((p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/')

/** The path template of `path` in the document, or undefined. */
export function templateOf (doc: Doc, path: string): string | undefined {
  return Object.keys(doc.paths).find((t) => new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path))
}

export function openApiValidator (doc: Doc): (method: string, path: string, status: number, body: unknown) => string[] {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  ajv.addFormat('phase-canonical-base64', { type: 'string', validate: isCanonicalBase64 })
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d\d-\d\dT/.test(s) })
  ajv.addSchema(doc, 'openapi.json')
  return (method, path, status, body) => {
    const template = templateOf(doc, path)
    const error = pointer('components', 'responses', 'Error', 'content', 'application/json', 'schema')
    // A path the document does not name: only a 404 error is a right answer.
    if (template === undefined) return status === 404 ? validate(ajv, error, body, `${method} ${path}`) : [`${method} ${path}: not in the document, answered ${status}`]
    const op = doc.paths[template]![method.toLowerCase()]
    if (op === undefined) {
      // An undocumented method of a documented path: only a 405 error is a right answer.
      return status === 405 ? validate(ajv, error, body, `${method} ${path}`) : [`${method} ${template}: not in the document, answered ${status}`]
    }
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in op.responses)
    if (key === undefined) return [`${method} ${template}: no response ${status} in the document`]
    let response = op.responses[key] as { $ref?: string, content?: Record<string, unknown> }
    let at = pointer('paths', template, method.toLowerCase(), 'responses', key)
    if (response.$ref !== undefined) {
      at = response.$ref.slice(2).split('/').map((p) => encodeURIComponent(p)).join('/')
      response = response.$ref.slice(2).split('/').reduce((o: any, p) => o[p], doc) // eslint-disable-line @typescript-eslint/no-explicit-any
    }
    if (response.content?.['application/json'] === undefined) return [`${method} ${template} ${status}: the document has no JSON body for it`]
    return validate(ajv, `${at}/content/${encodeURIComponent('application~1json')}/schema`, body, `${method} ${path} → ${status}`)
  }
}

function validate (ajv: Ajv2020, at: string, body: unknown, what: string): string[] {
  const fn = ajv.compile({ $ref: `openapi.json#/${at}` })
  if (fn(body)) return []
  return (fn.errors ?? []).map((e) => `${what}: ${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
}
