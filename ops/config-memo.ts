/**
 * The configuration documents bin/plasmd's step validated on an earlier start, under the same
 * schema and validator (issue 11: start-up ≤ 2 s). Compiling the configuration schema is ~200 ms
 * of CPU in the one process everything waits for (ops/start.ts, before pm2 starts any app); a
 * restart with the same configuration skips it through PHASE_CONFIG_VALIDATED
 * (services/core/process/src/config.ts), and a changed file, environment, schema or ajv gives
 * another digest or key and is validated in full.
 *
 * Kept in this step's own compile cache folder (NODE_COMPILE_CACHE, set by bin/plasmd: root's,
 * 0700, under plasmd.service; the user's own cache otherwise): whoever may write there may already
 * write code this step runs, so it adds no trust. Any failure to read or write it only costs the
 * compile.
 */
import { createHash } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { loadConfig, type NodeConfig } from '../services/core/process/src/config.ts'

export const MEMO_FILE = 'validated-config.json'
/** Distinct documents remembered (a node has one configuration; this bounds the file). */
export const MEMO_MAX = 16

/** What a validation result depends on besides the document: the schema's bytes and ajv's version. */
export function validatorKey (root: string): string {
  const require = createRequire(join(root, 'package.json'))
  const hash = createHash('sha256')
  hash.update(readFileSync(join(root, 'schemas/config.schema.json')))
  hash.update(String((require('ajv/package.json') as { version: string }).version))
  return hash.digest('hex')
}

interface Memo { key: string, digests: string[] }

function read (dir: string): Memo | undefined {
  try {
    const memo = JSON.parse(readFileSync(join(dir, MEMO_FILE), 'utf8')) as Memo
    return typeof memo.key === 'string' && Array.isArray(memo.digests) ? memo : undefined
  } catch { return undefined }
}

/** The digests validated before under `key`, comma-separated as PHASE_CONFIG_VALIDATED takes them. */
export function rememberedDigests (dir: string | undefined, key: string): string {
  if (dir === undefined || dir === '') return ''
  const memo = read(dir)
  return memo?.key === key ? memo.digests.filter((d) => /^[0-9a-f]{64}$/.test(d)).join(',') : ''
}

/** Adds `digests` (comma-separated, as validatedConfigDigests() gives them) under `key`. */
export function rememberDigests (dir: string | undefined, key: string, digests: string): void {
  if (dir === undefined || dir === '') return
  const old = read(dir)
  const kept = old?.key === key ? old.digests : []
  const all = [...new Set([...digests.split(',').filter((d) => /^[0-9a-f]{64}$/.test(d)), ...kept])].slice(0, MEMO_MAX)
  if (old?.key === key && all.length === kept.length && all.every((d, i) => d === kept[i])) return
  try {
    const tmp = join(dir, `${MEMO_FILE}.${process.pid}.tmp`)
    writeFileSync(tmp, JSON.stringify({ key, digests: all }), { mode: 0o600 })
    renameSync(tmp, join(dir, MEMO_FILE))
  } catch {}
}

/**
 * loadConfig for bin/plasmd's step: the documents remembered under the current key count as
 * validated (added to env.PHASE_CONFIG_VALIDATED, which pm2 and the ecosystem then see too).
 */
export function loadConfigRemembered (env: NodeJS.ProcessEnv, root: string): NodeConfig {
  const known = rememberedDigests(env.NODE_COMPILE_CACHE, validatorKey(root))
  if (known !== '') env.PHASE_CONFIG_VALIDATED = [env.PHASE_CONFIG_VALIDATED, known].filter((v) => v !== undefined && v !== '').join(',')
  return loadConfig({ env })
}
