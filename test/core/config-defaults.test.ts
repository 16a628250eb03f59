/**
 * The configuration's defaults have one source: the `default` keywords of
 * schemas/config.schema.json. The loader and every component default that mirrors a config key
 * read them from there; the schema's prose does not restate them.
 */
import { describe, it, expect } from '@jest/globals'
import { readFileSync } from 'node:fs'
import schema from '../../schemas/config.schema.json' with { type: 'json' }
import { configDefault, configDefaults, configDefaultKeys } from '../../services/core/protocol/src/index.ts'
import * as config from '../../services/core/process/src/config.ts'
import * as intake from '../../services/core/rpc/src/intake.ts'
import * as httpApi from '../../services/discovery/src/http-api.ts'
import * as moduleStore from '../../services/discovery/src/module-store.ts'
import * as quarantine from '../../services/discovery/src/quarantine.ts'
import * as p2p from '../../services/discovery/src/p2p/index.ts'
import * as jobProtocol2 from '../../services/discovery/src/p2p/job-protocol-2.ts'
import * as pool from '../../services/executor/src/pool.ts'
import * as receiptLog from '../../services/signer/src/receipt-log/writer.ts'

type Node = { default?: unknown, description?: string, properties?: Record<string, Node> }
const copy = (): Node => structuredClone(schema) as Node
const at = (root: Node, key: string): Node => key.split('.').reduce((n, k) => n.properties![k]!, root)
const load = (defaults = configDefault): unknown => JSON.parse(JSON.stringify(config.loadConfig({ env: { HOME: '/home/op', PHASE_CONFIG: undefined }, uid: 1000, defaults })))

/** Another value of the key's type that the loader accepts (a default_* stays under its max_*). */
function changed (key: string, value: unknown): unknown {
  if (typeof value === 'boolean') return !value
  if (typeof value === 'number') return Number.isInteger(value) ? (key.includes('.default_') ? value - 1 : value + 1) : value / 2
  if (typeof value === 'string') return key === 'log_level' ? 'debug' : key === 'api.http.host' ? '127.0.0.2' : `${value}x`
  if (Array.isArray(value)) return value.length > 0 ? value.slice(1) : ['changed']
  throw new Error(`no change for ${key}`)
}

/** Keys without a `default`: their value is derived (folders, sockets) or has none (tokens). */
const DERIVED = ['$schema', 'state_dir', 'runtime_dir', 'api.grpc', 'api.http.socket', 'api.token', 'api.token_file']

function leaves (node: Node, prefix = ''): string[] {
  return Object.entries(node.properties ?? {}).flatMap(([k, n]) => n.properties !== undefined ? leaves(n, `${prefix}${k}.`) : [prefix + k])
}

describe('config defaults', () => {
  it('changes the loaded config when the schema changes any default', () => {
    const base = load(configDefaults(copy()))
    expect(load()).toEqual(base)
    const keys = configDefaultKeys()
    expect(keys.length).toBeGreaterThan(50)
    for (const key of keys) {
      const doc = copy()
      at(doc, key).default = changed(key, at(doc, key).default)
      expect({ key, same: JSON.stringify(load(configDefaults(doc))) === JSON.stringify(base) }).toEqual({ key, same: false })
    }
  })

  it('gives every key a default in the schema, except those derived in code', () => {
    const withDefault = new Set(configDefaultKeys())
    expect(leaves(schema as Node).filter((k) => !withDefault.has(k))).toEqual(DERIVED)
  })

  it('has no default written in the config loader: every fallback of a key is the schema\'s', () => {
    const source = readFileSync(new URL('../../services/core/process/src/config.ts', import.meta.url), 'utf8')
    const body = source.slice(source.indexOf('function resolveDefaults'), source.indexOf('function readTokenFile'))
    // `raw.x ?? …`, `l.x ?? …`, `rl.x ?? …`: the fallback is d('…'), a path derived from the folders, no value, or an empty section.
    const fallbacks = [...body.matchAll(/\b(?:raw|l|rl)(?:\??\.[a-z_]+)+ \?\? ([^,)\n]+)/g)].map((m) => m[1]!)
    expect(fallbacks.length).toBeGreaterThan(40)
    expect(fallbacks.filter((f) => !/^(d\('[a-z_.]+'$|Math\.max\(d\('[a-z_.]+'$|join\(|`unix:\$\{join\(runtimeDir$|runtimeDefault$|null$|\{\}$|\(tokenFile)/.test(f))).toEqual([])
  })

  it('reads one typed default per key and refuses a key without one', () => {
    expect(configDefault('limits.max_input_bytes')).toBe(at(schema as Node, 'limits.max_input_bytes').default)
    expect(configDefault('p2p.listen')).toEqual(at(schema as Node, 'p2p.listen').default)
    expect(Object.isFrozen(configDefault('p2p.listen'))).toBe(true)
    // @ts-expect-error: state_dir has no default (it is derived)
    expect(() => configDefault('state_dir')).toThrow(/no default for state_dir/)
  })

  it('keeps every component default that mirrors a config key equal to the schema\'s', () => {
    const pairs: Array<[string, unknown, unknown]> = [
      ['api.http.port', config.DEFAULT_HTTP_PORT, 1],
      ['limits.max_input_file_bytes', config.DEFAULT_MAX_INPUT_FILE_BYTES, 1],
      ['limits.max_input_bytes', config.DEFAULT_MAX_INPUT_BYTES, 1],
      ['limits.max_fuel', config.DEFAULT_MAX_FUEL, 1],
      ['api.max_buffered_bytes', intake.DEFAULT_MAX_BUFFERED_BYTES, 1],
      ['api.min_bytes_per_second', intake.DEFAULT_MIN_BYTES_PER_SECOND, 1],
      ['api.body_grace_ms', intake.DEFAULT_BODY_GRACE_MS, 1],
      ['api.request_timeout_ms', intake.DEFAULT_REQUEST_TIMEOUT_MS, 1],
      ['api.headers_timeout_ms', httpApi.DEFAULT_HEADERS_TIMEOUT_MS, 1],
      ['api.max_connections', httpApi.DEFAULT_MAX_CONNECTIONS, 1],
      ['module_cache.memory_bytes', moduleStore.DEFAULT_MEMORY_BYTES, 1],
      ['module_cache.disk_bytes', moduleStore.DEFAULT_DISK_BYTES, 1],
      ['poison_quarantine_ms', quarantine.DEFAULT_QUARANTINE_MS, 1],
      ['p2p.read_timeout_ms', p2p.DEFAULT_READ_TIMEOUT_MS, 1],
      ['p2p.max_inflight_bytes', p2p.DEFAULT_MAX_INFLIGHT_BYTES, 1],
      ['limits.max_input_bytes', jobProtocol2.DEFAULT_MAX_INPUT_BYTES, 1],
      ['workers_per_executor', pool.DEFAULT_WORKERS, 1],
      ['queue_capacity', pool.DEFAULT_QUEUE_CAPACITY, 1],
      ['limits.max_module_bytes', pool.DEFAULT_MAX_MODULE_BYTES, 1],
      ['limits.max_memory_mb', pool.DEFAULT_MAX_MEMORY_BYTES, 1024 * 1024],
      ['limits.max_timeout_ms', pool.DEFAULT_MAX_TIMEOUT_MS, 1],
      ['limits.max_output_bytes', pool.DEFAULT_MAX_OUTPUT_BYTES, 1],
      ['limits.max_fuel', Number(pool.DEFAULT_MAX_FUEL), 1],
      ['receipt_log.max_bytes', receiptLog.DEFAULT_MAX_BYTES, 1],
      ['receipt_log.segment_bytes', receiptLog.DEFAULT_SEGMENT_BYTES, 1],
      ['receipt_log.sync_interval_ms', receiptLog.DEFAULT_SYNC_INTERVAL_MS, 1],
      ['receipt_log.head_interval_ms', receiptLog.DEFAULT_HEAD_INTERVAL_MS, 1]
    ]
    for (const [key, value, unit] of pairs) {
      expect({ key, value }).toEqual({ key, value: (at(schema as Node, key).default as number) * (unit as number) })
    }
  })

  it('does not restate a default in the prose of the key that has it', () => {
    for (const key of configDefaultKeys()) {
      const description = at(schema as Node, key).description ?? ''
      expect({ key, restates: /default(:| is| of)? *[0-9]/i.test(description) }).toEqual({ key, restates: false })
    }
  })
})
