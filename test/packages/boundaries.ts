/**
 * The package boundaries, checked from the files themselves: a package's source may import
 * another workspace package only by name, only through a path that package exports, and only if
 * its package.json declares it and its tsconfig.json references it; a relative import may not
 * leave the package's own folder. `tsc -b tsconfig.packages.json` enforces the same from the
 * other side (a file of another project imported by path is TS6307).
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'

export interface Workspace {
  /** Folder relative to the repository root, e.g. `services/core/protocol`. */
  dir: string
  name: string
  exports: Set<string>
  dependencies: Set<string>
  /** Folders (relative to the root) its tsconfig.json references. */
  references: Set<string>
}

export interface Violation {
  file: string
  specifier: string
  rule: 'relative-escape' | 'undeclared-dependency' | 'not-exported' | 'not-referenced'
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm

export function readWorkspaces (root: string): Workspace[] {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }
  return rootPkg.workspaces.map(dir => {
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { name: string, exports?: Record<string, string>, dependencies?: Record<string, string> }
    const tsconfigPath = join(root, dir, 'tsconfig.json')
    const refs = existsSync(tsconfigPath)
      ? (JSON.parse(readFileSync(tsconfigPath, 'utf8')) as { references?: Array<{ path: string }> }).references ?? []
      : []
    return {
      dir,
      name: pkg.name,
      exports: new Set(Object.keys(pkg.exports ?? {})),
      dependencies: new Set(Object.keys(pkg.dependencies ?? {})),
      references: new Set(refs.map(r => relative(root, resolve(root, dir, r.path))))
    }
  })
}

function sourceFiles (dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path))
    else if (/\.(ts|js|cjs|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/** Every import in every workspace's `src` that crosses a boundary the wrong way. */
export function checkBoundaries (root: string): Violation[] {
  const workspaces = readWorkspaces(root)
  const byName = new Map(workspaces.map(w => [w.name, w]))
  const violations: Violation[] = []
  for (const ws of workspaces) {
    const home = resolve(root, ws.dir)
    for (const file of sourceFiles(join(home, 'src'))) {
      const rel = relative(root, file)
      for (const [, , specifier] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
        const spec = specifier!
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec)
          if (target !== home && !target.startsWith(home + sep)) violations.push({ file: rel, specifier: spec, rule: 'relative-escape' })
          continue
        }
        const match = /^(@phase-network\/[^/]+)(\/.*)?$/.exec(spec)
        if (match === null) continue
        const [, name, sub] = match
        const target = byName.get(name!)
        if (target === undefined || target === ws) continue
        if (!ws.dependencies.has(name!)) violations.push({ file: rel, specifier: spec, rule: 'undeclared-dependency' })
        const entry = '.' + (sub ?? '')
        const exported = target.exports.has(entry) || [...target.exports].some(e => e.includes('*') && new RegExp('^' + e.split('*').map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$').test(entry))
        if (!exported) violations.push({ file: rel, specifier: spec, rule: 'not-exported' })
        if (target.name !== '@phase-network/schemas' && existsSync(join(home, 'tsconfig.json')) && !ws.references.has(target.dir)) {
          violations.push({ file: rel, specifier: spec, rule: 'not-referenced' })
        }
      }
    }
  }
  return violations
}
