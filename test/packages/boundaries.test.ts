import { describe, it, expect, afterAll } from '@jest/globals'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkBoundaries, readWorkspaces } from './boundaries.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

describe('package boundaries', () => {
  it('holds in this repository: no package reaches into another except through its entry points', () => {
    const workspaces = readWorkspaces(ROOT)
    expect(workspaces.map(w => w.name)).toEqual(expect.arrayContaining([
      '@phase-network/protocol', '@phase-network/rpc', '@phase-network/process',
      '@phase-network/discovery', '@phase-network/executor', '@phase-network/signer', '@phase-network/sdk'
    ]))
    expect(checkBoundaries(ROOT)).toEqual([])
  })

  describe('the checker', () => {
    const root = mkdtempSync(join(tmpdir(), 'phase-boundaries-'))
    afterAll(() => rmSync(root, { recursive: true, force: true }))
    const write = (path: string, text: string): void => {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      writeFileSync(join(root, path), text)
    }
    write('package.json', JSON.stringify({ workspaces: ['a', 'b'] }))
    write('a/package.json', JSON.stringify({ name: '@phase-network/a', exports: { '.': './src/index.ts', './node': './src/node.ts' } }))
    write('a/tsconfig.json', JSON.stringify({ references: [] }))
    write('a/src/index.ts', "export const a = 1\n")
    write('b/package.json', JSON.stringify({ name: '@phase-network/b', exports: { '.': './src/index.ts' }, dependencies: { '@phase-network/a': '0.1.0' } }))
    write('b/tsconfig.json', JSON.stringify({ references: [{ path: '../a' }] }))

    it('finds a relative import that leaves the package', () => {
      write('b/src/index.ts', "import { a } from '../../a/src/index.ts'\nexport const b = a\n")
      expect(checkBoundaries(root)).toEqual([{ file: 'b/src/index.ts', specifier: '../../a/src/index.ts', rule: 'relative-escape' }])
    })

    it('finds a deep import of a path the other package does not export', () => {
      write('b/src/index.ts', "import { a } from '@phase-network/a/src/index.ts'\nexport const b = a\n")
      expect(checkBoundaries(root).map(v => v.rule)).toEqual(['not-exported'])
    })

    it('finds an import of a package the importer does not declare', () => {
      write('a/src/index.ts', "export { b } from '@phase-network/b'\n")
      write('b/src/index.ts', "export const b = 2\n")
      expect(checkBoundaries(root).map(v => v.rule).sort()).toEqual(['not-referenced', 'undeclared-dependency'])
      write('a/src/index.ts', "export const a = 1\n")
    })

    it('accepts imports through exported entry points and relative imports inside the package', () => {
      write('b/src/util.ts', "export const u = 3\n")
      write('b/src/index.ts', "import { a } from '@phase-network/a'\nimport '@phase-network/a/node'\nimport { u } from './util.ts'\nexport const b = a + u\n")
      expect(checkBoundaries(root)).toEqual([])
    })
  })
})
