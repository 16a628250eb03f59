/**
 * What a verifier needs must run in a browser: the import graph of the documents and crypto
 * doors may not reach a Node-only module (node:*, fs, Buffer).
 */
import { describe, it, expect } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../services/core/src')

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
      } else packages.add(spec!)
    }
  }
  visit(entry)
  return { files: [...files], packages: [...packages] }
}

describe('portable core', () => {
  for (const door of ['documents/index.ts', 'crypto/index.ts']) {
    it(`${door} reaches no Node-only module and no Buffer`, () => {
      const { files, packages } = importGraph(resolve(SRC, door))
      expect(files.length).toBeGreaterThan(3)
      expect(packages.filter(p => p.startsWith('node:') || ['fs', 'crypto', 'buffer', 'path'].includes(p))).toEqual([])
      for (const file of files) expect(readFileSync(file, 'utf8')).not.toMatch(/\bBuffer\.|\bprocess\./)
    })
  }
})
