/**
 * bin/plasmd's step remembers the configuration documents it validated (ops/config-memo.ts):
 * a restart with the same configuration skips the schema's compile (~200 ms of CPU before pm2
 * starts anything); anything else — another document, schema or ajv — is validated in full.
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { MEMO_FILE, MEMO_MAX, rememberDigests, rememberedDigests, validatorKey } from '../../ops/config-memo.ts'
import { ROOT } from '../helpers/node-harness.ts'

const NODE = join(ROOT, 'node_modules/node/bin/node')
const dir = mkdtempSync(join(tmpdir(), 'phase-config-memo-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

const d = (c: string): string => c.repeat(64)

/**
 * bin/plasmd's step in a fresh process: loads the config as ops/start.ts does, then remembers
 * as the ecosystem does; prints what it validated itself (empty: it skipped the schema).
 */
function startStep (cache: string, config: unknown): { status: number | null, validatedHere: string, stderr: string } {
  const file = join(cache, 'plasmd.json')
  writeFileSync(file, JSON.stringify(config))
  const memo = pathToFileURL(join(ROOT, 'ops/config-memo.ts')).href
  const cfg = pathToFileURL(join(ROOT, 'services/core/process/src/config.ts')).href
  const script = `const m = await import(${JSON.stringify(memo)}); const c = await import(${JSON.stringify(cfg)})
    m.loadConfigRemembered(process.env, ${JSON.stringify(ROOT)})
    const here = c.validatedConfigDigests()
    m.rememberDigests(process.env.NODE_COMPILE_CACHE, m.validatorKey(${JSON.stringify(ROOT)}), [process.env.PHASE_CONFIG_VALIDATED, here].filter(Boolean).join(','))
    console.log(JSON.stringify(here))`
  const r = spawnSync(NODE, ['--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 60_000,
    env: { PATH: process.env.PATH, PHASE_CONFIG: file, PHASE_STATE_DIR: join(cache, 'state'), PHASE_RUNTIME_DIR: join(cache, 'run'), NODE_COMPILE_CACHE: cache }
  })
  return { status: r.status, validatedHere: r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()!) as string : '', stderr: r.stderr }
}

describe('config memo', () => {
  it('validates a configuration in full on the first start and skips the schema on the next', () => {
    const cache = mkdtempSync(join(dir, 'start-'))
    const first = startStep(cache, { executors: 3 })
    expect(first.status).toBe(0)
    // The file's document and the one with the environment's overrides.
    expect(first.validatedHere).toMatch(/^[0-9a-f]{64}(,[0-9a-f]{64})*$/)
    expect(rememberedDigests(cache, validatorKey(ROOT)).split(',').sort()).toEqual(first.validatedHere.split(',').sort())
    const again = startStep(cache, { executors: 3 })
    expect(again.status).toBe(0)
    expect(again.validatedHere).toBe('')
  }, 60_000)

  it('still refuses a changed configuration that is wrong, naming the key', () => {
    const cache = mkdtempSync(join(dir, 'changed-'))
    expect(startStep(cache, { executors: 3 }).status).toBe(0)
    const bad = startStep(cache, { executors: 'three' })
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toMatch(/InvalidConfigError|executors/)
  }, 60_000)

  it('forgets everything when the schema or ajv changes (another key)', () => {
    const cache = mkdtempSync(join(dir, 'key-'))
    rememberDigests(cache, 'k1', d('a'))
    expect(rememberedDigests(cache, 'k1')).toBe(d('a'))
    expect(rememberedDigests(cache, 'k2')).toBe('')
    rememberDigests(cache, 'k2', d('b'))
    expect(rememberedDigests(cache, 'k2')).toBe(d('b'))
    expect(rememberedDigests(cache, 'k1')).toBe('')
  })

  it('keeps at most MEMO_MAX digests, takes only sha256 hex, and reads a damaged file as empty', () => {
    const cache = mkdtempSync(join(dir, 'bound-'))
    const many = Array.from({ length: MEMO_MAX + 10 }, (_, i) => i.toString(16).padStart(64, '0'))
    rememberDigests(cache, 'k', [...many, 'not-a-digest', `${d('c')},x`].join(','))
    const kept = rememberedDigests(cache, 'k').split(',')
    expect(kept).toHaveLength(MEMO_MAX)
    expect(kept.every((x) => /^[0-9a-f]{64}$/.test(x))).toBe(true)
    writeFileSync(join(cache, MEMO_FILE), '{"key":"k","digests":')
    expect(rememberedDigests(cache, 'k')).toBe('')
    writeFileSync(join(cache, MEMO_FILE), JSON.stringify({ key: 'k', digests: [`${d('e')},${d('f')}`, 7] }))
    expect(rememberedDigests(cache, 'k')).toBe('')
    expect(JSON.parse(readFileSync(join(cache, MEMO_FILE), 'utf8')).key).toBe('k')
  })

  it('plasmd prepare (the unit\'s pre-start, as root) runs from root\'s compile cache when the unit names the folder', () => {
    expect(process.getuid!()).toBe(0)
    // The executor user must pass through to its socket folder (as through /run to /run/phase).
    chmodSync(dir, 0o711)
    const node = mkdtempSync(join(dir, 'prepare-'))
    chmodSync(node, 0o711)
    writeFileSync(join(node, 'plasmd.json'), JSON.stringify({ p2p: { enabled: false } }))
    const env = { PATH: process.env.PATH, PHASE_CONFIG: join(node, 'plasmd.json'), PHASE_STATE_DIR: join(node, 'state'), PHASE_RUNTIME_DIR: join(node, 'run'), PHASE_CACHE_DIR: join(node, 'cache') }
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(join(ROOT, 'bin/plasmd'), ['prepare'], { env, encoding: 'utf8', timeout: 60_000 })
      expect(r.status).toBe(0)
    }
    // Node's per-version folder of root's cache: the pre-start's own code is kept there.
    expect(readdirSync(join(node, 'cache', 'supervisor')).some((n) => n.startsWith(`${process.version}-`))).toBe(true)
  }, 120_000)
})
