/**
 * The TypeScript SDK as npm users get it: `npm run build:sdk`, `npm pack` of the built schemas,
 * protocol, rpc and sdk (their dist/ folders) into a temporary folder, and a fresh project that
 * installs the four tarballs (their own npm dependencies come from the registry). There:
 * - on Node 20.9.0 and 22.23.3 (the npm package `node`, installed at test time into a cache
 *   folder, never as a project dependency) and on the project's Node 24, a plain JavaScript
 *   script (pack/consumer.mjs) imports @phase-network/sdk, computes a manifest's job id, gives
 *   every shared receipt vector its verdict, shows which side of protocol's conditional imports
 *   ran ("node"), and runs hello.wasm on a real node started here, verifying its receipt;
 * - a TypeScript file (pack/typed.ts) type-checks against the tarballs' .d.ts;
 * - in headless Chromium, a page bundled by esbuild from @phase-network/sdk/verify and
 *   @phase-network/sdk/manifest (pack/page.mjs) gives the vectors the same verdicts and the
 *   manifest the same job id; the bundle holds no node: builtin and took the "default" side of
 *   every conditional import.
 * Chromium talks to 127.0.0.1 only (every other host name resolves to nothing).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import * as esbuild from 'esbuild'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { figure } from '../helpers/figures.ts'
import { VECTORS_FILE } from '../vectors/generate.ts'
import { manifest, jobIdOf } from '../../sdk/ts/src/index.ts'
import { fixedManifest } from './pack/vectors.mjs'

/** The packages the SDK needs, by their folder; each is packed from its built dist/. */
const PACKAGES = [
  { name: '@phase-network/schemas', dir: 'schemas' },
  { name: '@phase-network/protocol', dir: 'services/core/protocol' },
  { name: '@phase-network/rpc', dir: 'services/core/rpc' },
  { name: '@phase-network/sdk', dir: 'sdk/ts' }
]
/** Node 20's first LTS, a current 22, and the project's own Node 24 (the one running this test). */
const NODES = ['20.9.0', '22.23.3', process.versions.node]
const HELLO = join(ROOT, 'examples/hello/hello.wasm')
const PACK = join(ROOT, 'test/sdk/pack')
const SLOW = 15 * 60_000

interface Run { code: number | null, stdout: string, stderr: string, ms: number }

/** Runs a command without blocking the event loop (the test node's logs keep flowing). */
async function run (cmd: string, args: string[], options: { cwd?: string, timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const start = performance.now()
  return await new Promise((resolve) => {
    execFile(cmd, args, { cwd: options.cwd ?? ROOT, timeout: options.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? npmEnv() }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr, ms: performance.now() - start })
    })
  })
}

function must (r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`)
  return r
}

/** npm runs on the project's Node (the system one may be older). */
function npmEnv (): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }
}

/** Where Node binaries are kept between runs: PHASE_TEST_CACHE, /var/cache/phase-test, else the temp folder. */
function cacheDir (): string {
  for (const dir of [process.env.PHASE_TEST_CACHE ?? '/var/cache/phase-test', join(tmpdir(), 'phase-test-cache')]) {
    try {
      mkdirSync(dir, { recursive: true })
      accessSync(dir, constants.W_OK)
      return dir
    } catch {}
  }
  throw new Error('no writable cache folder for the Node binaries')
}

/**
 * The `node` binary of a version: the npm package `node@<version>` (its install script fetches the
 * platform binary from the registry) installed into `<cache>/node-<version>`, not into any
 * project (as a dependency it would take `node_modules/.bin/node`). Installed beside, then
 * renamed, so a concurrent run never sees half of it.
 */
async function nodeBinary (version: string): Promise<string> {
  if (version === process.versions.node) return process.execPath
  const dir = join(cacheDir(), `node-${version}`)
  const bin = join(dir, 'node_modules/node/bin/node')
  const have = async (): Promise<boolean> => existsSync(bin) && (await run(bin, ['--version'])).stdout.trim() === `v${version}`
  if (!await have()) {
    const staging = `${dir}.${process.pid}`
    rmSync(staging, { recursive: true, force: true })
    mkdirSync(staging, { recursive: true })
    must(await run('npm', ['install', '--prefix', staging, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node@${version}`], { timeoutMs: 600_000 }), `npm install node@${version}`)
    rmSync(dir, { recursive: true, force: true })
    renameSync(staging, dir)
  }
  if (!await have()) throw new Error(`${bin} is not Node ${version}`)
  return bin
}

function sizeOf (path: string): number {
  const s = statSync(path)
  return s.isDirectory() ? readdirSync(path).reduce((n, e) => n + sizeOf(join(path, e)), 0) : s.size
}

const vectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { cases: Array<{ name: string, valid: boolean, failed_check?: string }> }
/** What every verifier must say of each shared vector. */
const EXPECTED_VERDICTS = Object.fromEntries(vectors.cases.map((c) => [c.name, c.valid ? 'ok' : `failed:${c.failed_check}`]))
/** The job id the workspace SDK gives the fixed manifest. */
const EXPECTED_JOB_ID = jobIdOf(fixedManifest(manifest, new Uint8Array(readFileSync(HELLO))))

let work = ''
let app = ''
let node: TestNode | undefined
const tarballs = new Map<string, { file: string, bytes: number, files: string[] }>()

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'phase-pack-'))
  app = join(work, 'app')
  const build = must(await run('npm', ['run', 'build:sdk'], { timeoutMs: 600_000 }), 'npm run build:sdk')
  figure('sdk packages', 'npm run build:sdk (schemas, protocol, rpc, sdk)', (build.ms / 1000).toFixed(1), 's')
  for (const p of PACKAGES) {
    const packed = must(await run('npm', ['pack', '--json', '--pack-destination', work, join(ROOT, p.dir, 'dist')]), `npm pack ${p.dir}/dist`)
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string, size: number, files: Array<{ path: string }> }>
    tarballs.set(p.name, { file: join(work, info!.filename), bytes: info!.size, files: info!.files.map((f) => f.path) })
    figure('sdk packages', `${p.name} tarball`, (info!.size / 1024).toFixed(1), 'KiB')
  }
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({
    name: 'fresh-app',
    private: true,
    type: 'module',
    dependencies: Object.fromEntries(PACKAGES.map((p) => [p.name, `file:${tarballs.get(p.name)!.file}`]))
  }, null, 2))
  const install = must(await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, timeoutMs: 600_000 }), 'npm install of the tarballs')
  figure('sdk packages', 'npm install of the 4 tarballs in a fresh project', (install.ms / 1000).toFixed(1), 's')
  figure('sdk packages', 'installed node_modules', (sizeOf(join(app, 'node_modules')) / 1024 / 1024).toFixed(1), 'MiB')
  for (const f of ['consumer.mjs', 'vectors.mjs', 'page.mjs', 'typed.ts']) copyFileSync(join(PACK, f), join(app, f))
  node = await startTestNode({ executors: 1 })
}, SLOW)

afterAll(async () => {
  await node?.stop()
  if (work !== '') rmSync(work, { recursive: true, force: true })
})

describe('SDK npm packages', () => {
  it.each(PACKAGES.map((p) => [p.name, p] as const))('ships %s as JavaScript and .d.ts only, its package.json naming built files', (name, p) => {
    const { files } = tarballs.get(name)!
    expect(files).toContain('package.json')
    expect(files).toContain('LICENSE')
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([])
    expect(files.filter((f) => !/(\.js|\.d\.ts|\.json|^LICENSE|^README\.md)$/.test(f))).toEqual([])
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')) as { exports: Record<string, unknown>, imports?: Record<string, unknown>, private?: boolean, scripts?: unknown }
    expect(pkg.private).toBeUndefined()
    expect(pkg.scripts).toBeUndefined()
    const leaves = (t: unknown): string[] => typeof t === 'string' ? [t] : Object.values(t as object).flatMap(leaves)
    const targets = [...leaves(pkg.exports), ...leaves(pkg.imports ?? {})].map((t) => t.replace(/^\.\//, ''))
    expect(targets.length).toBeGreaterThan(0)
    for (const t of targets.filter((x) => !x.includes('*'))) expect(files).toContain(t)
    if (p.dir !== 'schemas') expect(Object.values(pkg.exports).every((e) => JSON.stringify(e).includes('"types"'))).toBe(true)
  })

  it('refuses `npm pack` of a workspace folder (it runs from src/*.ts): dist/ is the package', async () => {
    const r = await run('npm', ['pack', '--dry-run'], { cwd: join(ROOT, 'sdk/ts') })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('npm pack ./dist')
  })

  it('type-checks a TypeScript user file against the tarballs\' .d.ts (strict, lib checks on)', async () => {
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] },
      files: ['typed.ts']
    }))
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app, '--listFiles'], { cwd: app })
    expect(`exit ${tsc.code}\n${tsc.stdout.split('\n').filter((l) => l.includes('error TS')).join('\n')}`).toBe('exit 0\n')
    // The types came from the tarballs, not from this repository's sources.
    expect(tsc.stdout).toContain(join(app, 'node_modules/@phase-network/sdk/index.d.ts'))
    expect(tsc.stdout).not.toContain(join(ROOT, 'sdk/ts/src'))
  }, 300_000)
})

describe.each(NODES)('the installed SDK on Node %s', (version) => {
  let lines: Array<Record<string, any>> = []

  beforeAll(async () => {
    const bin = await nodeBinary(version)
    const r = must(await run(bin, ['consumer.mjs', VECTORS_FILE, HELLO, node!.grpc], { cwd: app, timeoutMs: 180_000 }), `consumer.mjs on Node ${version}`)
    figure('sdk packages', `consumer.mjs on Node ${version} (${vectors.cases.length} vectors, 1 job)`, (r.ms / 1000).toFixed(1), 's')
    lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>)
  }, SLOW)

  const get = (key: string): any => lines.find((l) => key in l)?.[key]

  it('loads the SDK from the fresh project\'s node_modules (the built JavaScript)', () => {
    expect(get('node')).toBe(`v${version}`)
    expect(get('sdk')).toBe(`file://${join(app, 'node_modules/@phase-network/sdk/index.js')}`)
  })

  it('gives a manifest the job id the workspace SDK gives it', () => {
    expect(get('jobId')).toBe(EXPECTED_JOB_ID)
  })

  it('gives every shared receipt vector its verdict (valid ones verify, tampered ones fail their check)', () => {
    expect(get('verdicts')).toEqual(EXPECTED_VERDICTS)
  })

  it('takes the "node" side of protocol\'s conditional imports: ajv loaded lazily, node:crypto SHA-256 and Ed25519', () => {
    expect(get('conditions')).toEqual({ ajvAtImport: false, ajvAfterUse: true, nodeSha256: expect.any(Number), webCryptoVerify: 0 })
    expect(get('conditions').nodeSha256).toBeGreaterThan(0)
  })

  it('runs a job on a real node and verifies its receipt; one changed value fails the signature', () => {
    expect(get('run')).toEqual({ stdout: 'dlroW ,olleH\n', status: 'ok', verified: true, jobId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), verifiedJobId: get('run').jobId, tampered: 'failed:signature' })
  })
})

describe('the installed SDK bundled for a browser', () => {
  let server: Server
  let result: Record<string, any> = {}
  let metafile: esbuild.Metafile

  beforeAll(async () => {
    const chromium = await run('chromium', ['--version'])
    if (chromium.code !== 0) throw new Error(`chromium is missing: .ci/run installs it (apt-get install chromium)\n${chromium.stderr}`)
    const built = await esbuild.build({ entryPoints: [join(app, 'page.mjs')], bundle: true, format: 'esm', platform: 'browser', outfile: join(app, 'www/page.js'), metafile: true, minify: true, logLevel: 'silent' })
    metafile = built.metafile
    const bytes = Object.values(metafile.outputs).reduce((n, o) => n + o.bytes, 0)
    figure('sdk packages', 'browser bundle of sdk/verify + sdk/manifest (esbuild, minified)', (bytes / 1024).toFixed(0), 'KiB')
    const files: Record<string, [string, string | Buffer]> = {
      '/': ['text/html; charset=utf-8', '<!doctype html><meta charset="utf-8"><pre id="result">pending</pre><script type="module" src="/page.js"></script>'],
      '/page.js': ['text/javascript', readFileSync(join(app, 'www/page.js'))],
      '/vectors.json': ['application/json', readFileSync(VECTORS_FILE)],
      '/hello.wasm': ['application/wasm', readFileSync(HELLO)]
    }
    server = createServer((req, res) => {
      const file = files[req.url ?? '']
      if (file === undefined) res.writeHead(404).end()
      else res.writeHead(200, { 'content-type': file[0] }).end(file[1])
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    const profile = join(work, 'chromium-profile')
    const page = must(await run('chromium', [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', `--user-data-dir=${profile}`,
      '--virtual-time-budget=10000', '--dump-dom', `http://127.0.0.1:${port}/`
    ], { timeoutMs: 180_000 }), 'chromium --dump-dom')
    figure('sdk packages', `headless Chromium: page load, ${vectors.cases.length} vectors, 1 job id`, (page.ms / 1000).toFixed(1), 's')
    const text = /<pre id="result">([^<]*)<\/pre>/.exec(page.stdout)?.[1]
    if (text === undefined) throw new Error(`no result in the page:\n${page.stdout.slice(0, 3000)}`)
    result = JSON.parse(text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as Record<string, any>
  }, SLOW)
  afterAll(async () => { await new Promise((resolve) => server?.close(resolve)) })

  it('bundles no node: builtin, and the "default" side of every conditional import', () => {
    const imported = Object.values(metafile.inputs).flatMap((i) => i.imports.map((x) => x.path))
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))
    expect(imported.filter((p) => p.startsWith('node:') || builtins.has(p))).toEqual([])
    const inputs = Object.keys(metafile.inputs).filter((f) => f.includes('@phase-network/protocol/')).map((f) => f.slice(f.indexOf('@phase-network/protocol/') + '@phase-network/protocol/'.length))
    expect(inputs).toEqual(expect.arrayContaining(['crypto/ed25519-native-none.js', 'sha256-native-none.js', 'documents/ajv-default.js']))
    expect(inputs.filter((f) => ['crypto/ed25519-native.js', 'sha256-native.js', 'documents/ajv-node.js', 'node.js', 'hash-node.js'].includes(f))).toEqual([])
  })

  it('runs in Chromium: every shared vector gets its verdict', () => {
    expect(result.error).toBeUndefined()
    expect(result.userAgent).toMatch(/HeadlessChrome/)
    expect(result.verdicts).toEqual(EXPECTED_VERDICTS)
  })

  it('gives a manifest the job id Node gives it', () => {
    expect(result.jobId).toBe(EXPECTED_JOB_ID)
  })
})
