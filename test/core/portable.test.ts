/**
 * What a verifier needs must run in a browser: the import graph of the documents and crypto
 * doors may not reach a Node-only module (node:*, fs, Buffer).
 */
import { describe, it, expect } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const PKG = resolve(ROOT, 'services/core/protocol')
const SRC = resolve(PKG, 'src')
const IMPORTS = (JSON.parse(readFileSync(resolve(PKG, 'package.json'), 'utf8')) as { imports: Record<string, { default?: string }> }).imports

/** Every local file reachable from `entry`, and the bare specifiers they import. */
function importGraph (entry: string): { files: string[], packages: string[] } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string): void => {
    if (files.has(file)) return
    files.add(file)
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)) {
      if (spec!.startsWith('.')) {
        if (spec!.endsWith('.ts')) visit(resolve(dirname(file), spec!))
      } else if (spec!.startsWith('#')) {
        // A conditional import (package.json "imports"): a browser gets its "default" file.
        const target = IMPORTS[spec!]?.default
        if (target === undefined) packages.add(spec!)
        else visit(resolve(PKG, target))
      } else packages.add(spec!)
    }
  }
  visit(entry)
  return { files: [...files], packages: [...packages] }
}

describe('portable core', () => {
  for (const door of ['index.ts', 'documents/index.ts', 'crypto/index.ts']) {
    it(`${door} reaches no Node-only module and no Buffer`, () => {
      const { files, packages } = importGraph(resolve(SRC, door))
      expect(files.length).toBeGreaterThan(3)
      if (door !== 'documents/index.ts') expect(files.some(f => f.endsWith('ed25519-native-none.ts'))).toBe(true)
      expect(packages.filter(p => p.startsWith('node:') || ['fs', 'crypto', 'buffer', 'path'].includes(p))).toEqual([])
      for (const file of files) expect(readFileSync(file, 'utf8')).not.toMatch(/\bBuffer\.|\bprocess\./)
    })
  }
})
