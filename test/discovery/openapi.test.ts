/**
 * The OpenAPI 3.1 document of the HTTP API (services/discovery/src/openapi.ts): it names every
 * route the server answers and no other, its schemas are valid JSON Schema 2020-12, it embeds
 * the schemas of `schemas/` as they are, and a node serves it. That every real answer validates
 * against it is in test/cli/faces.test.ts (a whole node).
 */
import { describe, it, expect, afterAll, beforeAll } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { HttpApi, HTTP_ROUTES } from '../../services/discovery/src/http-api.ts'
import { openApiDocument } from '../../services/discovery/src/openapi.ts'
import { ERROR_TABLE } from '../../services/core/protocol/src/errors.ts'
import type { Logger } from '../../services/core/process/src/logger.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { openApiValidator } from '../helpers/openapi.ts'

const doc = openApiDocument() as unknown as { openapi: string, paths: Record<string, Record<string, unknown>>, components: { schemas: Record<string, unknown> } }
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']
const HASH = `sha256:${'ab'.repeat(32)}`

describe('the OpenAPI document', () => {
  let api: HttpApi
  let base: string
  beforeAll(async () => {
    const logger = pino({ level: 'silent' }, new Writable({ write (_c, _e, cb) { cb() } })) as unknown as Logger
    api = new HttpApi({
      jobs: { run: async () => { throw new Error('no job path here') } },
      modules: { has: () => false },
      inputs: { has: () => false, put: async () => {} },
      info: async () => ({ peerId: 'p', receiptPublicKey: 'ab'.repeat(32), version: 'v', executors: 0, runtimeName: 'r', runtimeVersion: 'v', network: undefined }),
      status: async () => ({}),
      metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: '' }),
      findExecutors: async () => [],
      peers: async () => [{
        peerId: '12D3KooWpeer', addresses: ['/ip4/127.0.0.1/tcp/4001'], transport: 'tcp', latencyMs: null, jobProtocol: true, receiptPublicKey: null, runtimes: ['v8-wasm@13'],
        successes: 0, failures: 0, agentVersion: '',
        reputation: { score: 0.5, receiptsVerified: 0, receiptsRefused: 0, disagreements: 0, failures: 0, refusals: 0, latencyMs: null, successes: 0, failed: 0 }
      }],
      doctor: async () => ({
        version: 1, generated_at: new Date().toISOString(), status: 'ok', node: { peer_id: 'p', version: 'v', pid: 1, uptime_s: 0 }, network: null,
        files: [], config: { source: null, warnings: [] }, resources: { disk: null, memory: null }, checks: [{ name: 'network', status: 'ok', message: 'p2p is off' }]
      }),
      logger
    }, { host: '127.0.0.1', port: 0, token: 'a-token-of-16-chars-or-more', maxBodyBytes: 1024 })
    base = `http://${await api.start()}`
  })
  afterAll(async () => { await api?.stop() })

  it('is OpenAPI 3.1 and names exactly the routes the server dispatches', () => {
    expect(doc.openapi).toBe('3.1.0')
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`)).sort()
    const served = HTTP_ROUTES.flatMap((r) => r.methods.map((m) => `${m} ${r.path}`)).sort()
    expect(documented).toEqual(served)
  })

  it('embeds the schemas of schemas/ as they are, and the error table\'s codes', () => {
    for (const [name, file] of [['Manifest', 'manifest'], ['ManifestV01', 'manifest-v0.1'], ['Receipt', 'receipt'], ['Capability', 'capability']] as const) {
      expect(doc.components.schemas[name]).toEqual(JSON.parse(readFileSync(join(ROOT, 'schemas', `${file}.schema.json`), 'utf8')))
    }
    const error = doc.components.schemas.Error as { properties: { error: { properties: { code: { enum: string[] } } } } }
    expect(error.properties.error.properties.code.enum.sort()).toEqual(Object.keys(ERROR_TABLE).sort())
  })

  it('holds schemas that compile as JSON Schema 2020-12 in strict mode', () => {
    const ajv = new Ajv2020({ strict: true })
    ajv.addFormat('phase-canonical-base64', true)
    ajv.addFormat('date-time', true)
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      // Each with the others beside it, as the document holds them.
      const wrapped = { $defs: doc.components.schemas, $ref: `#/$defs/${name}` }
      expect(() => ajv.compile(JSON.parse(JSON.stringify(wrapped).replaceAll('#/components/schemas/', '#/$defs/')))).not.toThrow()
      ajv.removeSchema()
      expect(schema).toBeDefined()
    }
  })

  it('is served at GET /v1/openapi.json without a token, and every documented route is answered (never a 404)', async () => {
    const served = await fetch(`${base}/v1/openapi.json`)
    expect(served.status).toBe(200)
    expect(await served.json()).toEqual(JSON.parse(JSON.stringify(doc)))
    const validate = openApiValidator(doc as never)
    const auth = { authorization: 'Bearer a-token-of-16-chars-or-more' }
    for (const r of HTTP_ROUTES) {
      const path = r.path.replace('{hash}', HASH)
      for (const method of r.methods) {
        const res = await fetch(`${base}${path}`, { method, headers: auth, ...(method === 'PUT' || method === 'POST' ? { body: '{}' } : {}) })
        expect({ route: `${method} ${r.path}`, status: res.status === 404 ? 404 : 'answered' }).toEqual({ route: `${method} ${r.path}`, status: 'answered' })
        if ((res.headers.get('content-type') ?? '').startsWith('application/json') && r.path !== '/v1/status') expect(validate(method, path, res.status, await res.json())).toEqual([])
      }
    }
  })

  it('refuses an answer that strays from it (a camelCase name, a missing field, a wrong type)', () => {
    const validate = openApiValidator(doc as never)
    const info = { peer_id: 'p', receipt_public_key: 'ab'.repeat(32), version: 'v', executors: 1, runtime: { name: 'r', version: 'v' }, network: { peers: 0, jobs_in: 0, jobs_refused: 0, jobs_out: 0, jobs_out_failed: 0, receipts_refused: 0 } }
    expect(validate('GET', '/v1/node', 200, info)).toEqual([])
    expect(validate('GET', '/v1/node', 200, { ...info, network: { ...info.network, jobs_in: undefined, jobsIn: 0 } })).not.toEqual([])
    expect(validate('GET', '/v1/node', 200, { ...info, executors: '1' })).not.toEqual([])
    expect(validate('GET', '/v1/node', 404, { error: { code: 'no_such_code', message: 'x' } })).not.toEqual([])
    expect(validate('GET', '/v1/nowhere', 200, {})).not.toEqual([])
  })

  it('answers a method a route does not take with 405, the error body and Allow', async () => {
    const validate = openApiValidator(doc as never)
    const res = await fetch(`${base}/v1/blobs/${HASH}`, { method: 'DELETE', headers: { authorization: 'Bearer a-token-of-16-chars-or-more' } })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, PUT')
    expect(validate('DELETE', `/v1/blobs/${HASH}`, 405, await res.json())).toEqual([])
    const health = await fetch(`${base}/healthz`, { method: 'POST' })
    expect(health.status).toBe(405)
  })
})
