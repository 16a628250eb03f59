/**
 * Issue 11: each executor's pool worker is an isolate of its own, and what its script imports
 * stays on that isolate's heap for the executor's life. The worker reads three export names of
 * the rewriter and needs nothing else of it (the rewriter and its instruction tables: ~0.3 MiB of
 * each worker's heap).
 */
import { describe, it, expect } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, NODE } from '../helpers/node-harness.ts'

/** Every file:// URL the module graph of `script` resolves (the script loaded as a main module: its worker branch stays off). */
function graph (script: string): string[] {
  const hook = `import { registerHooks } from 'node:module'
    const seen = []
    registerHooks({ resolve (spec, ctx, next) { const r = next(spec, ctx); if (r.url.startsWith('file:')) seen.push(r.url); return r } })
    process.on('exit', () => process.stdout.write(JSON.stringify(seen)))`
  const r = spawnSync(NODE, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, script], { encoding: 'utf8', timeout: 60_000 })
  expect(r.status).toBe(0)
  return JSON.parse(r.stdout) as string[]
}

describe('pool worker script', () => {
  it('loads the rewriter\'s export names without the rewriter when a worker starts', () => {
    const urls = graph(join(ROOT, 'services/executor/src/worker.ts'))
    expect(urls.some((u) => u.endsWith('/rewrite/exports.ts'))).toBe(true)
    expect(urls.filter((u) => /\/rewrite\/(rewrite|instructions|bytes)\.ts$/.test(u))).toEqual([])
  })
})
