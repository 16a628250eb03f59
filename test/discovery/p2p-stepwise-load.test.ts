/**
 * Discovery loads the p2p part package by package, each in a turn of the event loop of its own
 * (compose/network.ts, p2p/packages.ts): its public API is open while libp2p loads, and one
 * `import()` of the whole part held the loop for ~250 ms, so a local job sent as the API opened
 * waited for it (issue 11: start-up).
 *
 * Checked: the list names every package the p2p part imports (else that package would load, with
 * everything under it, in one turn again) and each is a dependency of discovery; the optional
 * parts are loaded exactly when configured; and a real network part started in a child of the
 * project's Node lets the event loop turn between the packages (a ticker counts the turns while
 * it starts: one import of the whole part turns it a handful of times, for the host's own I/O).
 */
import { describe, it, expect } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT, NODE } from '../helpers/node-harness.ts'
import { P2P_OPTIONAL_PACKAGES, P2P_PACKAGES, loadStepwise } from '../../services/discovery/src/p2p/packages.ts'
import { p2pPackages } from '../../services/discovery/src/compose/network.ts'

const P2P_DIR = join(ROOT, 'services/discovery/src/p2p')

/** Package names a source file imports as values (static and dynamic), not node: builtins nor the project's own. */
function packagesImported (source: string): string[] {
  const names = new Set<string>()
  // Static imports, also over several lines; `import type` loads nothing.
  for (const m of source.matchAll(/^import\s+(?!type\s)[^;]*?\sfrom\s+'([^']+)'/gms)) names.add(m[1]!)
  for (const m of source.matchAll(/^import\s+'([^']+)'/gm)) names.add(m[1]!)
  for (const m of source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) names.add(m[1]!)
  return [...names].filter((n) => !n.startsWith('.') && !n.startsWith('node:') && !n.startsWith('@phase-network/'))
}

const packageOf = (specifier: string): string => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/')

describe('p2p part: loaded package by package', () => {
  it('names every package the p2p part imports, each a dependency of discovery', () => {
    const listed = new Set([...P2P_PACKAGES, ...Object.values(P2P_OPTIONAL_PACKAGES)])
    const imported = new Map<string, string>()
    for (const file of readdirSync(P2P_DIR).filter((f) => f.endsWith('.ts'))) {
      for (const name of packagesImported(readFileSync(join(P2P_DIR, file), 'utf8'))) imported.set(name, file)
    }
    // The parser finds what host.ts is known to import (it would find nothing if it broke).
    expect([...imported.keys()]).toEqual(expect.arrayContaining(['libp2p', '@libp2p/kad-dht', '@chainsafe/libp2p-quic', '@libp2p/mdns']))
    const missing = [...imported].filter(([name]) => !listed.has(name)).map(([name, file]) => `${name} (${file})`)
    expect(missing).toEqual([])
    const deps = Object.keys((JSON.parse(readFileSync(join(ROOT, 'services/discovery/package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies)
    expect([...listed].map(packageOf).filter((p) => !deps.includes(p))).toEqual([])
    expect(new Set(P2P_PACKAGES).size).toBe(P2P_PACKAGES.length)
  })

  it('loads an optional part exactly when the configuration turns it on', () => {
    const p2p = { bootstrap: [] as string[], mdns: false, upnp: false }
    const off = p2pPackages(p2p as never)
    expect(off).toEqual([...P2P_PACKAGES])
    expect(p2pPackages({ ...p2p, mdns: true } as never)).toEqual([...P2P_PACKAGES, '@libp2p/mdns'])
    expect(p2pPackages({ ...p2p, bootstrap: ['/ip4/127.0.0.1/tcp/1/p2p/x'], upnp: true } as never)).toEqual([...P2P_PACKAGES, '@libp2p/bootstrap', '@libp2p/upnp-nat'])
  })

  it('gives the event loop a turn after each package, in order', async () => {
    const events: string[] = []
    let turns = 0
    let ticking = true
    const tick = (): void => { turns++; if (ticking) setImmediate(tick) }
    setImmediate(tick)
    try {
      await loadStepwise(['a', 'b', 'c'], async (name) => {
        events.push(`${name} after ${turns}`)
        // The load itself never yields (as an import's evaluation): only loadStepwise does.
        const until = turns
        return await Promise.resolve(until)
      })
    } finally { ticking = false }
    expect(events.map((e) => e.split(' ')[0])).toEqual(['a', 'b', 'c'])
    const seen = events.map((e) => Number(e.split(' after ')[1]))
    // Each package starts in a later turn than the one before.
    expect(seen[1]!).toBeGreaterThan(seen[0]!)
    expect(seen[2]!).toBeGreaterThan(seen[1]!)
  })

  it('a real network part turns the event loop between the packages as it starts', () => {
    const child = `
      import { registerHooks } from 'node:module'
      import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
      import { tmpdir } from 'node:os'
      import { join } from 'node:path'
      const { loadConfig } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'services/core/process/src/config.ts')).href)})
      const { silentLogger } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'services/core/process/src/logger.ts')).href)})
      const { networkPart } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'services/discovery/src/compose/network.ts')).href)})
      const { generateKeyPair } = await import('@libp2p/crypto/keys')
      const dir = mkdtempSync(join(tmpdir(), 'phase-stepwise-'))
      try {
        writeFileSync(join(dir, 'plasmd.json'), JSON.stringify({ state_dir: join(dir, 'state'), runtime_dir: join(dir, 'run'),
          p2p: { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [] } }), { mode: 0o600 })
        const config = loadConfig({ env: { HOME: dir }, file: join(dir, 'plasmd.json') })
        const part = networkPart({ logger: silentLogger(), privateKey: await generateKeyPair('Ed25519'),
          jobs: { running: 0, run: async () => { throw new Error('no jobs here') } }, modules: { has: () => false },
          receiptKey: async () => 'ab'.repeat(32), runtime: async () => ({ name: 'v8-wasm', version: 'test' }) }, config)
        let turns = 0
        let ticking = true
        const tick = () => { turns++; if (ticking) setImmediate(tick) }
        // The turn each listed package is imported in by compose/network.ts (the stepwise load).
        const listed = new Set(${JSON.stringify(P2P_PACKAGES)})
        const importedAt = []
        registerHooks({ resolve (specifier, context, next) {
          if (listed.has(specifier) && String(context.parentURL).endsWith('/compose/network.ts')) importedAt.push(turns)
          return next(specifier, context)
        } })
        setImmediate(tick)
        await part.start()
        ticking = false
        const running = part.network.current !== undefined && part.network.addresses().length > 0
        await part.stop()
        console.log(JSON.stringify({ turns, running, importedAt }))
      } finally { rmSync(dir, { recursive: true, force: true }) }
      process.exit(0)
    `
    const r = spawnSync(NODE, ['--input-type=module', '-e', child], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 })
    if (r.status !== 0) throw new Error(`the child exited with ${String(r.status)}: ${r.stderr}`)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { turns: number, running: boolean, importedAt: number[] }
    expect(out.running).toBe(true)
    // Every package imported on its own, in order, the loop turning between them: each yield is
    // at least one turn (the ticker's count may trail the load's by one within a turn).
    expect(out.importedAt).toHaveLength(P2P_PACKAGES.length)
    expect(out.importedAt).toEqual([...out.importedAt].sort((a, b) => a - b))
    expect(out.importedAt.at(-1)! - out.importedAt[0]!).toBeGreaterThanOrEqual(P2P_PACKAGES.length - 2)
    expect(out.turns).toBeGreaterThanOrEqual(P2P_PACKAGES.length)
  })
})
