/**
 * `plasmd cache fill` (ops/admin/cache.ts; run by the package's postinst and by `npm install`):
 * every process's code goes into its compile cache without a start, so that the first start
 * after an install or an upgrade compiles no TypeScript — none of the node's processes loads
 * Node's transpiler (issue 11: start-up ≤ 2 s). Seen as Node reports it
 * (NODE_DEBUG_NATIVE=COMPILE_CACHE, which pm2 passes to every process): a start without the fill
 * transpiles files, one after it transpiles none, and each of the three caches (bin/plasmd's
 * step and pm2, the signer and discovery, the executors) was the one its processes read. With p2p
 * on (loopback only), as the default configuration has it: discovery loads its p2p host later.
 */
import { describe, it, expect } from '@jest/globals'
import { join } from 'node:path'
import { rm } from 'node:fs/promises'
import { nodeFolder, phaseCli, plasmdCli, startPm2Node } from '../helpers/pm2-node.ts'
import { ROOT } from '../helpers/node-harness.ts'

const CONFIG = { api: { http: { host: '127.0.0.1', port: 0 } }, p2p: { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [] } }
const DEBUG = { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }
const HELLO = join(ROOT, 'examples/hello/hello.wasm')

/** Files some process of the node compiled from TypeScript, not finding them in its cache. */
function transpiled (lines: string[]): string[] {
  return [...lines.join('\n').matchAll(/no transpile cache for StrippedTypeScript (\S+)/g)].map((m) => m[1]!)
}

/** The cache folders the node's processes read (Node names each when it turns its cache on). */
function cachesRead (lines: string[]): string[] {
  return [...new Set([...lines.join('\n').matchAll(/\[compile cache\] resolved path (\S+) \+/g)].map((m) => m[1]!))].sort()
}

describe('plasmd cache fill', () => {
  it('leaves the next start nothing to compile from TypeScript in any process; without it, a first start compiles', async () => {
    const cold = await startPm2Node(CONFIG, 2, { env: DEBUG })
    try {
      expect((await phaseCli(['run', HELLO, '--', 'cold'], cold.env)).stdout).toBe('dloc\n')
    } finally {
      await cold.stop()
    }
    expect(transpiled(cold.lines).length).toBeGreaterThan(20)

    const folder = await nodeFolder(CONFIG)
    let removed = false
    try {
      const fill = await plasmdCli(['cache', 'fill'], folder.env)
      expect(fill.code).toBe(0)
      const parts = fill.stdout.split('\n').filter((l) => l.includes('"msg":"compile cache"')).map((l) => JSON.parse(l) as { cache: string, dir: string, result: string })
      expect(parts.map((p) => [p.cache, p.result])).toEqual([['supervisor', 'filled'], ['node', 'filled'], ['executor', 'filled']])
      const warm = await startPm2Node(CONFIG, 2, { folder, env: DEBUG })
      try {
        expect((await phaseCli(['run', HELLO, '--', 'warm'], warm.env)).stdout).toBe('mraw\n')
      } finally {
        removed = true
        await warm.stop()
      }
      expect(transpiled(warm.lines)).toEqual([])
      // Each cache the fill named is one the node's processes read (the executors: their user's copy).
      expect(cachesRead(warm.lines)).toEqual(parts.map((p) => p.dir).sort())
    } finally {
      if (!removed) await rm(folder.dir, { recursive: true, force: true })
    }
  }, 240_000)

  it('refuses a bad configuration (exit 78, the key named) and an unknown request (exit 64), filling nothing', async () => {
    const folder = await nodeFolder({ executors: 'two' })
    try {
      const bad = await plasmdCli(['cache', 'fill'], folder.env)
      expect([bad.code, bad.stderr]).toEqual([78, expect.stringContaining('executors')])
      const usage = await plasmdCli(['cache', 'empty'], folder.env)
      expect([usage.code, usage.stderr]).toEqual([64, expect.stringContaining('plasmd cache fill')])
      expect(bad.stdout + usage.stdout).not.toContain('compile cache')
    } finally {
      await rm(folder.dir, { recursive: true, force: true })
    }
  }, 60_000)
})
