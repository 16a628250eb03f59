/**
 * `npm run build:sdk` (or `npm run build -w <package>`): the npm packages a user installs — the
 * SDK and the workspace packages it stands on (protocol, rpc, schemas) — built, each into its own
 * `dist/`, which is the package as published: ESM JavaScript and .d.ts from `tsc -b` of each
 * package's tsconfig.build.json, and a package.json derived from the workspace one with every
 * path mapped to its built file. The workspace package.json keeps pointing at `src/*.ts` (Node
 * runs it by type stripping), so nothing in the repository needs a build; pack or publish the
 * built folder: `npm pack ./sdk/ts/dist`. (npm cannot swap `exports` at pack time without
 * rewriting the workspace package.json in place, under every process reading it.)
 *
 * Node 20.9, the oldest Node the SDK is tested on, has no import attributes: a schema imported
 * as JSON (`with { type: 'json' }`) is imported from its JavaScript twin in the built
 * @phase-network/schemas (`<name>.js`, written here) instead.
 *
 *   node ops/package/build-npm.ts @phase-network/sdk      # and the workspace packages it needs
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')

type Target = string | { [condition: string]: Target }

interface PackageJson {
  name: string
  version: string
  description?: string
  license?: string
  type?: string
  private?: boolean
  exports?: Record<string, Target>
  imports?: Record<string, Target>
  engines?: Record<string, string>
  dependencies?: Record<string, string>
}

interface Workspace { dir: string, pkg: PackageJson }

export function readWorkspaces (root: string = ROOT): Map<string, Workspace> {
  const dirs = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces
  return new Map(dirs.map((d) => {
    const pkg = JSON.parse(readFileSync(join(root, d, 'package.json'), 'utf8')) as PackageJson
    return [pkg.name, { dir: join(root, d), pkg }]
  }))
}

/** The named packages and every workspace package they depend on, dependencies first. */
export function buildOrder (names: readonly string[], workspaces: Map<string, Workspace>): Workspace[] {
  const order: Workspace[] = []
  const seen = new Set<string>()
  const visit = (name: string, path: readonly string[]): void => {
    if (seen.has(name)) return
    if (path.includes(name)) throw new Error(`dependency cycle: ${[...path, name].join(' → ')}`)
    const ws = workspaces.get(name)
    if (ws === undefined) throw new Error(`${name} is not a workspace package`)
    for (const dep of Object.keys(ws.pkg.dependencies ?? {})) if (workspaces.has(dep)) visit(dep, [...path, name])
    seen.add(name)
    order.push(ws)
  }
  for (const name of names) visit(name, [])
  return order
}

export function build (names: readonly string[]): Workspace[] {
  const order = buildOrder(names, readWorkspaces())
  for (const ws of order) {
    if (existsSync(join(ws.dir, 'src')) && !existsSync(join(ws.dir, 'tsconfig.build.json'))) throw new Error(`${ws.pkg.name} has no tsconfig.build.json: it is not built for npm`)
    rmSync(join(ws.dir, 'dist'), { recursive: true, force: true })
  }
  const projects = order.filter((ws) => existsSync(join(ws.dir, 'tsconfig.build.json'))).map((ws) => join(ws.dir, 'tsconfig.build.json'))
  if (projects.length > 0) {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', ...projects], { cwd: ROOT, stdio: 'inherit' })
    if (tsc.status !== 0) throw new Error(`tsc -b failed (${tsc.status ?? tsc.signal})`)
  }
  for (const ws of order) {
    if (existsSync(join(ws.dir, 'src'))) finishCompiled(ws)
    else finishData(ws)
    writeManifest(ws)
  }
  return order
}

/** A package of JSON files (the schemas): each copied, with a JavaScript twin for runtimes without JSON modules. */
function finishData (ws: Workspace): void {
  const dist = join(ws.dir, 'dist')
  mkdirSync(dist, { recursive: true })
  for (const name of readdirSync(ws.dir).filter((n) => n.endsWith('.json') && n !== 'package.json')) {
    const text = readFileSync(join(ws.dir, name), 'utf8')
    JSON.parse(text)
    const base = name.slice(0, -'.json'.length)
    copyFileSync(join(ws.dir, name), join(dist, name))
    writeFileSync(join(dist, `${base}.js`), `// ${name} as a JavaScript module (no import attributes needed).\nexport default ${text.trim()}\n`)
    writeFileSync(join(dist, `${base}.d.ts`), `/** ${name}. */\ndeclare const schema: { readonly [key: string]: unknown }\nexport default schema\n`)
  }
}

/** After tsc: the JavaScript kept in src (generated protobuf code) copied with its .d.ts; schema JSON imports → their twins. */
function finishCompiled (ws: Workspace): void {
  const src = join(ws.dir, 'src')
  const dist = join(ws.dir, 'dist')
  for (const file of walk(src).filter((f) => f.endsWith('.js'))) {
    for (const path of [file, file.replace(/\.js$/, '.d.ts')]) {
      if (!existsSync(path)) continue
      const out = join(dist, relative(src, path))
      mkdirSync(dirname(out), { recursive: true })
      copyFileSync(path, out)
    }
  }
  for (const file of walk(dist).filter((f) => f.endsWith('.js'))) {
    const text = readFileSync(file, 'utf8')
    const rewritten = text.replace(/(from\s*)(['"])(@phase-network\/schemas\/[^'"]+)\.json\2\s*with\s*\{\s*type:\s*(['"])json\4\s*\}/g, '$1$2$3.js$2')
    if (/\bwith\s*\{\s*type:/.test(rewritten)) throw new Error(`${relative(ROOT, file)}: an import attribute is left (Node 20.9 cannot load it)`)
    if (/(?:from\s*|import\s*\(\s*)['"]\.{1,2}\/[^'"]*\.ts['"]/.test(rewritten)) throw new Error(`${relative(ROOT, file)}: a relative import of a .ts file is left`)
    if (rewritten !== text) writeFileSync(file, rewritten)
  }
  // Declarations that name a schema's type (`typeof configSchema`) import the JSON without an
  // attribute, which a TypeScript user's NodeNext check refuses (TS1543): the twin's types instead.
  for (const file of walk(dist).filter((f) => f.endsWith('.d.ts'))) {
    const text = readFileSync(file, 'utf8')
    const rewritten = text.replace(/(from\s*)(['"])(@phase-network\/schemas\/[^'"]+)\.json\2(\s*with\s*\{\s*type:\s*(['"])json\5\s*\})?/g, '$1$2$3.js$2')
    if (rewritten !== text) writeFileSync(file, rewritten)
  }
}

/** The published package.json: the workspace one with every src path mapped to dist, nothing workspace-only. */
function writeManifest (ws: Workspace): void {
  const { pkg } = ws
  const dist = join(ws.dir, 'dist')
  const compiled = existsSync(join(ws.dir, 'src'))
  const out: Record<string, unknown> = {
    name: pkg.name,
    version: pkg.version,
    description: pkg.description,
    license: pkg.license,
    type: 'module',
    exports: compiled ? mapTargets(pkg.exports ?? {}, true) : { './*.json': './*.json', './*.js': { types: './*.d.ts', default: './*.js' } },
    ...(pkg.imports !== undefined && { imports: mapTargets(pkg.imports, false) }),
    ...(pkg.engines !== undefined && { engines: pkg.engines }),
    ...(pkg.dependencies !== undefined && { dependencies: pkg.dependencies }),
    files: compiled ? ['**/*.js', '**/*.d.ts'] : ['*.json', '*.js', '*.d.ts']
  }
  for (const target of leaves(out.exports as Target).concat(leaves((out.imports ?? {}) as Target))) {
    if (!target.includes('*') && !existsSync(join(dist, target))) throw new Error(`${pkg.name}: ${target} is named in package.json but was not built`)
  }
  writeFileSync(join(dist, 'package.json'), `${JSON.stringify(out, null, 2)}\n`)
  copyFileSync(join(ROOT, 'LICENSE'), join(dist, 'LICENSE'))
  if (existsSync(join(ws.dir, 'README.md'))) copyFileSync(join(ws.dir, 'README.md'), join(dist, 'README.md'))
}

/** `./src/a.ts` → `{ types: './a.d.ts', default: './a.js' }` (exports) or `'./a.js'` (imports), through conditions. */
function mapTargets (map: Record<string, Target>, withTypes: boolean): Record<string, Target> {
  const one = (t: Target): Target => {
    if (typeof t !== 'string') return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, one(v)]))
    const m = /^\.\/src\/(.+)\.(ts|js)$/.exec(t)
    if (m === null) throw new Error(`${t}: not a file under ./src to map to dist`)
    return withTypes ? { types: `./${m[1]}.d.ts`, default: `./${m[1]}.js` } : `./${m[1]}.js`
  }
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, one(v)]))
}

function leaves (t: Target): string[] {
  return typeof t === 'string' ? [t] : Object.values(t).flatMap(leaves)
}

function walk (dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => {
    const path = join(dir, n)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2)
  if (names.length === 0) {
    console.error('usage: node ops/package/build-npm.ts <package name>...   e.g. @phase-network/sdk')
    process.exit(2)
  }
  try {
    for (const ws of build(names)) console.log(`built ${ws.pkg.name} → ${relative(ROOT, join(ws.dir, 'dist'))}`)
  } catch (err) {
    console.error(`build-npm: ${(err as Error).message}`)
    process.exit(1)
  }
}
