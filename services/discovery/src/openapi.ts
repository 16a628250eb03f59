/**
 * The HTTP JSON API as an OpenAPI 3.1 document, served at GET /v1/openapi.json. Its documents
 * are the JSON Schemas of `schemas/` themselves (manifest, receipt, capability record), placed
 * in `components.schemas` as imported — never copied by hand — and the error codes are the keys
 * of the one error table. OpenAPI 3.1 schemas are JSON Schema 2020-12, the schemas' own dialect.
 * Every route of `HTTP_ROUTES` is here and nothing else (test/discovery/openapi.test.ts), and
 * every answer of a real node validates against it (test/cli/faces.test.ts).
 */
import manifestSchema from '@phase-network/schemas/manifest.schema.json' with { type: 'json' }
import manifestV01Schema from '@phase-network/schemas/manifest-v0.1.schema.json' with { type: 'json' }
import receiptSchema from '@phase-network/schemas/receipt.schema.json' with { type: 'json' }
import capabilitySchema from '@phase-network/schemas/capability.schema.json' with { type: 'json' }
import doctorSchema from '@phase-network/schemas/doctor-report.schema.json' with { type: 'json' }
import { ERROR_TABLE } from '@phase-network/protocol'
import { VERSION } from '@phase-network/rpc'

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown, description: string): unknown => ({ description, content: { 'application/json': { schema } } })
const str = { type: 'string' }
const int = { type: 'integer', minimum: 0 }
const nullable = (schema: unknown): Record<string, unknown> => ({ oneOf: [schema, { type: 'null' }] })
const object = (properties: Record<string, unknown>, required = Object.keys(properties)): Record<string, unknown> =>
  ({ type: 'object', additionalProperties: false, required, properties })
const HASH = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' }
const BASE64 = { type: 'string', contentEncoding: 'base64' }

/** Every error: 4XX and 5XX answers carry the one error body. */
const ERRORS = {
  '4XX': { $ref: '#/components/responses/Error' },
  '5XX': { $ref: '#/components/responses/Error' }
}

const hashParameter = {
  name: 'hash',
  in: 'path',
  required: true,
  description: '`sha256:<64 hex>`; the colon may be percent-encoded (`sha256%3A...`).',
  schema: { type: 'string', pattern: '^sha256(:|%3[Aa])[0-9a-f]{64}$' }
}

const SCHEMAS = {
  Manifest: manifestSchema,
  ManifestV01: manifestV01Schema,
  Receipt: receiptSchema,
  Capability: capabilitySchema,
  DoctorReport: doctorSchema,
  Error: object({
    error: object({
      code: { type: 'string', enum: Object.keys(ERROR_TABLE), description: 'Stable, snake_case; one per PhaseError class.' },
      message: { type: 'string', description: 'For people; may change between versions.' }
    })
  }),
  Health: object({ status: { const: 'ok' } }),
  JobRequest: object({
    manifest: { oneOf: [ref('Manifest'), ref('ManifestV01')], description: 'The job; the seed\'s v0.1 manifest is upgraded.' },
    module: { ...BASE64, description: 'The module\'s bytes, when the node does not cache it (GET /v1/modules/{hash}).' },
    inputs: { type: 'array', maxItems: 256, items: object({ hash: HASH, data: BASE64 }), description: 'Bytes of input files the node lacks.' },
    target: { type: 'string', enum: ['', 'local', 'remote', 'auto'] },
    peer_id: { type: 'string', description: 'Run on this peer.' },
    replicas: { type: 'integer', minimum: 0, description: 'Run on this many distinct nodes and report agreement.' }
  }, ['manifest']),
  JobResult: object({
    job_id: HASH,
    status: str,
    exit_code: { type: 'integer' },
    stdout: { type: 'string', description: 'Output as UTF-8 text, for reading.' },
    stderr: str,
    stdout_base64: { ...BASE64, description: 'The exact bytes the receipt hashes.' },
    stderr_base64: BASE64,
    outputs: { type: 'array', items: object({ path: str, data_base64: BASE64 }), description: 'Files the job wrote under /out, sorted by path.' },
    manifest: ref('Manifest'),
    peer_id: { type: 'string', description: 'The node that ran the job.' },
    capability: nullable(ref('Capability')),
    capability_json: { ...nullable(str), description: 'The capability record\'s canonical JSON (RFC 8785), to verify without re-encoding.' },
    agreeing: int,
    replicas: { type: 'array', items: ref('Replica') },
    receipt: ref('Receipt'),
    receipt_json: { type: 'string', description: 'The signed receipt exactly as signed (canonical JSON): verify these bytes.' }
  }, ['job_id', 'status', 'exit_code', 'stdout', 'stderr', 'stdout_base64', 'stderr_base64', 'outputs', 'manifest', 'peer_id', 'capability', 'capability_json', 'receipt', 'receipt_json']),
  Replica: object({
    peer_id: str,
    status: str,
    exit_code: { type: 'integer' },
    stdout_hash: str,
    stderr_hash: str,
    receipt_json: { type: 'string', description: 'Empty when the run failed.' },
    error_code: str,
    error_message: str,
    capability_json: nullable(str)
  }),
  Executors: object({
    executors: {
      type: 'array',
      items: object({
        peer_id: str,
        receipt_public_key: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        runtimes: { type: 'array', items: { type: 'string', description: '`name@version`' } },
        arch: str,
        cores: int,
        max_memory_mb: int,
        queue_depth: int
      }),
      description: 'Least loaded first; each checked through its signed capability record.'
    },
    lookup_ms: { type: 'number', minimum: 0 }
  }),
  Peers: object({
    peers: {
      type: 'array',
      items: object({
        peer_id: str,
        transport: { type: 'string', description: 'Of the current connection: quic, tcp or relay.' },
        latency_ms: { ...nullable({ type: 'number', minimum: 0 }), description: 'Smoothed job round trip; null until a job came back.' },
        runs_jobs: { type: 'boolean', description: 'It serves the job protocol.' },
        receipt_public_key: nullable({ type: 'string', pattern: '^[0-9a-f]{64}$' }),
        runtimes: { type: 'array', items: { type: 'string', description: '`name@version`' } },
        successes: int,
        failures: int,
        addresses: { type: 'array', items: str },
        agent_version: { ...nullable(str), description: 'What the peer announced: untrusted text.' },
        reputation: object({
          score: { type: 'number', minimum: 0, maximum: 1 },
          receipts_verified: { type: 'number', minimum: 0 },
          receipts_refused: { type: 'number', minimum: 0 },
          replica_disagreements: { type: 'number', minimum: 0 },
          failures: { type: 'number', minimum: 0 },
          refusals: { type: 'number', minimum: 0 }
        })
      }),
      description: 'The connected peers; reputation is what this node verified itself, decayed by age.'
    }
  }),
  ModuleCached: object({ module_hash: HASH, cached: { type: 'boolean' } }),
  BlobCached: object({ hash: HASH, cached: { type: 'boolean' } }),
  BlobStored: object({ hash: HASH, bytes: int, cached: { type: 'boolean' } }),
  NodeInfo: object({
    peer_id: str,
    receipt_public_key: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    version: str,
    executors: int,
    runtime: object({ name: str, version: str }),
    network: nullable(object({ peers: int, jobs_in: int, jobs_refused: int, jobs_out: int, jobs_out_failed: int, receipts_refused: int }))
  }),
  NodeStatus: object({
    peer_id: str,
    version: str,
    processes: {
      type: 'array',
      items: object({
        name: { type: 'string', enum: ['discovery', 'signer', 'executor'] },
        index: int,
        state: { type: 'string', enum: ['up', 'starting', 'down'] },
        pid: nullable(int),
        started_at: nullable({ type: 'string', format: 'date-time' }),
        version: nullable(str),
        node_version: nullable(str),
        rss_bytes: nullable(int),
        running: int,
        queued: int,
        completed: int,
        restarts: int
      })
    },
    jobs_in_flight: int,
    queue_depth: int,
    peers: int,
    p2p_enabled: { type: 'boolean' },
    jobs_by_status: { type: 'object', additionalProperties: int }
  })
}

const DOCUMENT = Object.freeze({
  openapi: '3.1.0',
  jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
  info: {
    title: 'Phase node HTTP API',
    version: VERSION,
    description: 'JSON over HTTP for curl and the PHP SDK: the same job path as the gRPC API (proto/phase/node/v1). ' +
      'Listens on localhost and a unix socket by default. Every error is `{ "error": { "code", "message" } }`. ' +
      'Every JSON name is snake_case.',
    license: { name: 'Apache-2.0', identifier: 'Apache-2.0' }
  },
  security: [{}, { bearer: [] }],
  paths: {
    '/healthz': {
      get: { operationId: 'health', summary: 'Liveness; no token needed.', security: [], responses: { 200: json(ref('Health'), 'The node answers.'), ...ERRORS } }
    },
    '/v1/openapi.json': {
      get: { operationId: 'openapi', summary: 'This document; no token needed.', security: [], responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1.'), ...ERRORS } }
    },
    '/v1/jobs': {
      post: {
        operationId: 'submitJob',
        summary: 'Run a job: output, output files and the signed receipt.',
        requestBody: { required: true, content: { 'application/json': { schema: ref('JobRequest') } } },
        responses: { 200: json(ref('JobResult'), 'The job ran (any status, exit code or limit): its receipt is signed.'), ...ERRORS }
      }
    },
    '/v1/modules/{hash}': {
      parameters: [hashParameter],
      get: { operationId: 'hasModule', summary: 'Whether the node caches a module (send the bytes only if not).', responses: { 200: json(ref('ModuleCached'), 'Cached or not.'), ...ERRORS } }
    },
    '/v1/blobs/{hash}': {
      parameters: [hashParameter],
      get: { operationId: 'hasInput', summary: 'Whether the node caches an input file.', responses: { 200: json(ref('BlobCached'), 'Cached or not.'), ...ERRORS } },
      put: {
        operationId: 'putInput',
        summary: 'Upload one input file\'s raw bytes (capped at limits.max_input_file_bytes); kept only if they hash to {hash}.',
        requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
        responses: { 200: json(ref('BlobStored'), 'Stored.'), ...ERRORS }
      }
    },
    '/v1/node': {
      get: { operationId: 'nodeInfo', summary: 'Identity, receipt key, runtime, network counters (as `phase node info`).', responses: { 200: json(ref('NodeInfo'), 'The node.'), ...ERRORS } }
    },
    '/v1/status': {
      get: { operationId: 'nodeStatus', summary: 'Processes, queue and peers (as `phase node status --json`).', responses: { 200: json(ref('NodeStatus'), 'The node\'s status.'), ...ERRORS } }
    },
    '/v1/executors': {
      get: {
        operationId: 'findExecutors',
        summary: 'Nodes that run jobs, found through the DHT (as gRPC FindExecutors and `phase executors --json`).',
        parameters: [
          { name: 'runtime', in: 'query', required: false, schema: { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9._-]*$' } },
          { name: 'arch', in: 'query', required: false, schema: { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9._-]*$' } },
          { name: 'min_memory_mb', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } },
          { name: 'min_cores', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 20 } }
        ],
        responses: { 200: json(ref('Executors'), 'What the lookup found within its deadline (3 s).'), ...ERRORS }
      }
    },
    '/v1/peers': {
      get: { operationId: 'peers', summary: 'The connected peers and their reputation (as gRPC ListPeers and `phase peers --json`).', responses: { 200: json(ref('Peers'), 'The peers; an empty list when the node is off the network.'), ...ERRORS } }
    },
    '/v1/doctor': {
      get: { operationId: 'doctor', summary: 'What may be wrong with the node (as `phase doctor --json`).', responses: { 200: json(ref('DoctorReport'), 'The report; its status is the worst of its checks.'), ...ERRORS } }
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus text exposition.',
        responses: { 200: { description: 'Metrics.', content: { 'text/plain': { schema: { type: 'string' } } } }, ...ERRORS }
      }
    }
  },
  components: {
    schemas: SCHEMAS,
    responses: { Error: json(ref('Error'), 'A typed error; `code` names it.') },
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'The API token, when the node sets /api/token (or /api/token_file).' }
    }
  }
})

/** The document (one object, built once; callers must not change it). */
export function openApiDocument (): typeof DOCUMENT {
  return DOCUMENT
}
