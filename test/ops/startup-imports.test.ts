/**
 * What the node's processes load before they serve (issue 11: start-up ≤ 2 s): each module
 * Node compiles at start is CPU every process pays on every start, on a machine the processes
 * share. Here: what none of them needs to load to serve the first job.
 */
import { describe, it, expect } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/node-harness.ts'

const NODE = join(ROOT, 'node_modules/node/bin/node')

/** Node's internal modules loaded by importing `file` in a fresh process. */
function internalModulesOf (file: string): string[] {
  const url = pathToFileURL(join(ROOT, file)).href
  const r = spawnSync(NODE, ['--input-type=module', '-e', `await import(${JSON.stringify(url)}); console.log(JSON.stringify(process.moduleLoadList))`], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[]
}

/** The files (URLs) Node loads when a fresh process imports `file` (or each of several, in turn). */
function filesOf (file: string | string[]): string[] {
  // A path in the project (services/…) or a specifier as it is (a file: URL, a package).
  const imports = (Array.isArray(file) ? file : [file]).map((f) => `await import(${JSON.stringify(f.startsWith('services/') ? pathToFileURL(join(ROOT, f)).href : f)})`)
  const script = `import { registerHooks } from 'node:module'
const urls = []
registerHooks({ load (u, context, next) { urls.push(u); return next(u, context) } })
${imports.join('\n')}
console.log(JSON.stringify(urls))`
  const r = spawnSync(NODE, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[]
}

describe('start-up imports', () => {
  it.each([
    ['the signer', 'services/signer/src/index.ts'],
    ['an executor', 'services/executor/src/index.ts'],
    ['the protocol package\'s door', 'services/core/protocol/src/index.ts']
  ])('%s loads no libp2p module (peer ids: ~140 modules, ~60 ms CPU) when its code loads', (_name, file) => {
    const loaded = filesOf(file)
    expect(loaded.some((u) => u.includes('/services/core/protocol/src/'))).toBe(true)
    expect(loaded.filter((u) => /node_modules\/(@libp2p|multiformats|protons-runtime)\//.test(u))).toEqual([])
  }, 60_000)

  it('an executor process loads neither @noble/hashes (it hashes with node:crypto) nor the wasmer runtime (unless configured to use it)', () => {
    // What services/executor/src/main.ts imports statically, each import as main.ts names it.
    const main = join(ROOT, 'services/executor/src/main.ts')
    const specifiers = [...readFileSync(main, 'utf8').matchAll(/^import [^'\n]* from '([^']+)'$/gm)].map((m) => m[1]!)
    const urls = specifiers.map((s) => s.startsWith('.') ? new URL(s, pathToFileURL(main)).href : s)
    expect(urls.some((u) => u.endsWith('/pool/v8-runtime.ts'))).toBe(true)
    const loaded = filesOf(urls)
    expect(loaded.some((u) => u.includes('/services/core/protocol/src/hash-node.ts'))).toBe(true)
    expect(loaded.filter((u) => u.includes('@noble/hashes') || u.includes('/executor/src/wasmer/'))).toEqual([])
  }, 60_000)

  it.each([
    ['discovery', 'services/discovery/src/index.ts'],
    ['signer', 'services/signer/src/index.ts'],
    ['executor', 'services/executor/src/index.ts']
  ])('%s loads no undici (fetch, WebSocket) when its code loads: an ESM import of node:http would (~45 ms CPU)', (_name, file) => {
    const loaded = internalModulesOf(file)
    // The list is real: the process's own modules are in it.
    expect(loaded.some((m) => m.includes('internal/modules/esm'))).toBe(true)
    expect(loaded.filter((m) => m.includes('undici'))).toEqual([])
  }, 60_000)
})
