/**
 * The .deb, as an operator gets it: built by `npm run package:deb`, clean for lintian, its unit
 * verified and rated by systemd-analyze, then installed into a clean Debian 12 root made by
 * debootstrap (the root is cached as a tarball between runs). There the node is started the
 * way plasmd.service starts it — user, group, environment, umask and folders read from the
 * installed unit, systemd not being PID 1 here — inside a network namespace made by this test,
 * so its default 0.0.0.0:4001 listener and mDNS never touch the host's network. The installed
 * CLI runs hello and verifies the receipt; reload scales the executors; an upgrade keeps the
 * configuration and the keys (the same node comes back); remove keeps the keys;
 * purge leaves nothing but what policy keeps (the system user).
 *
 * Privilege separation is checked as the kernel sees it: pm2 as root with only the unit's
 * capability bounding set, the signer and discovery as 'phase', the executors as 'phase-exec'
 * (from /proc/PID/status), and, as phase-exec inside the root, the keys unreadable, the signer,
 * the API and pm2 unreachable, and no folder writable but its own. /proc is mounted as the
 * unit's ProtectProc=/ProcSubset= ask. The unit's MemoryMax=/TasksMax= follow the config.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, chownSync, chmodSync, copyFileSync, mkdtempSync, rmSync, cpSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from '../helpers/node-harness.ts'
import { loadConfig } from '../../services/core/process/src/config.ts'
import { nodeLimits } from '../../ops/limits.ts'

const CACHE = process.env.PHASE_TEST_CACHE ?? '/var/cache/phase-test'
const ROOT_TARBALL = join(CACHE, 'bookworm-minbase.tar.gz')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const DEB = join(ROOT, 'dist', `phase_${VERSION}_amd64.deb`)
const NETNS = `phase-deb-${process.pid}`
// Compressing the bundle takes ~3 min on an idle 2-core machine, much longer on a shared one.
const BUILD_MS = 12 * 60_000

let root = ''
let netns = false
let node: ChildProcess | undefined

interface Run { code: number | null, stdout: string, stderr: string }

/** Runs a command on the host, with a time limit. */
function host (cmd: string, args: string[], options: { timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 120_000, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 })
  if (r.error !== undefined) throw r.error
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function must (r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`)
  return r
}

/**
 * A shell command inside the root, as root, in a private mount namespace (its /proc and /dev
 * mounts vanish with it) and inside the test's network namespace.
 */
function inRoot (script: string, options: { timeoutMs?: number } = {}): Run {
  return host('ip', ['netns', 'exec', NETNS, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec chroot "$0" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive sh -c "$1"',
    root, script], options)
}

/** The host's Debian mirror (never a name written here): the first URI of its apt sources. */
function mirror (): string {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(file)) continue
    const text = readFileSync(file, 'utf8')
    const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm/m.exec(text)
    if (m !== null) return m[1]!
  }
  throw new Error('no Debian mirror in the host apt sources')
}

/** Every path in the root with type, mode and owner, minus what apt/dpkg/users/logs change by design. */
function snapshot (): Set<string> {
  const out = must(host('find', [root, '-xdev', '-printf', '%P %y %m %u:%g\n']), 'find')
  const ignored = /^(proc|dev|sys|tmp|var\/tmp|var\/cache\/(apt|debconf|ldconfig)|var\/lib\/(apt|dpkg)|var\/log|etc\/(passwd|group|shadow|gshadow)-?|root\/\.)(\/| |$)/
  // The system user stays after purge (policy), so files owned by it would show a name change; none may be left.
  return new Set(out.stdout.split('\n').filter((l) => l !== '' && !ignored.test(l)).map((l) => l.replace(/ \d+:\d+$/, '')))
}

/** The unit's settings, as systemd would read them (last value per key, all values, Environment= gathered). */
function readUnit (text: string): { get: (key: string) => string | undefined, all: (key: string) => string[], env: Record<string, string> } {
  const values = new Map<string, string>()
  const lists = new Map<string, string[]>()
  const env: Record<string, string> = {}
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m === null) continue
    if (m[1] === 'Environment') {
      for (const assignment of m[2]!.split(/\s+/)) {
        const eq = assignment.indexOf('=')
        if (eq > 0) env[assignment.slice(0, eq)] = assignment.slice(eq + 1)
      }
    } else {
      values.set(m[1]!, m[2]!)
      lists.set(m[1]!, [...(lists.get(m[1]!) ?? []), m[2]!])
    }
  }
  return { get: (key) => values.get(key), all: (key) => lists.get(key) ?? [], env }
}

/** Uid, gid, groups, capabilities and no_new_privs of a process, as the kernel reports them. */
function credentials (pid: number): Record<string, string> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): string => (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)![1] ?? '').trim()
  return { uid: field('Uid').split(/\s+/)[0]!, gid: field('Gid').split(/\s+/)[0]!, groups: field('Groups'), capEff: field('CapEff'), capPrm: field('CapPrm'), capAmb: field('CapAmb'), noNewPrivs: field('NoNewPrivs') }
}

/** A capability set as /proc shows it, from the unit's CAP_* names. */
function capMask (names: string[]): string {
  const numbers: Record<string, number> = { CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7 }
  let mask = 0n
  for (const n of names) {
    if (numbers[n] === undefined) throw new Error(`capability ${n} not known to this test`)
    mask |= 1n << BigInt(numbers[n]!)
  }
  return mask.toString(16).padStart(16, '0')
}

/** The drop-in's MemoryMax=/TasksMax=. */
function dropInLimits (text: string): { memoryMax: string | undefined, tasksMax: string | undefined } {
  return { memoryMax: /^MemoryMax=(.*)$/m.exec(text)?.[1], tasksMax: /^TasksMax=(.*)$/m.exec(text)?.[1] }
}

function idsOf (user: string): { uid: number, gid: number } {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`))
  if (line === undefined) throw new Error(`no user ${user} in the root`)
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the package test needs root (debootstrap, chroot, network namespaces)')
  for (const tool of ['debootstrap', 'lintian', 'systemd-analyze', 'dpkg-deb', 'dpkg-shlibdeps', 'ip', 'unshare', 'chroot']) {
    if (host('sh', ['-c', `command -v ${tool}`]).code !== 0) throw new Error(`${tool} is missing: .ci/run installs it (apt-get install debootstrap lintian dpkg-dev systemd iproute2)`)
  }
  // PHASE_TEST_REUSE_DEB=1 (by hand, while iterating on this test only) keeps a .deb already built.
  if (process.env.PHASE_TEST_REUSE_DEB !== '1' || !existsSync(DEB)) must(host('bash', [join(ROOT, 'ops/package/build-deb.sh')], { timeoutMs: BUILD_MS }), 'npm run package:deb')
  if (!existsSync(ROOT_TARBALL)) {
    mkdirSync(CACHE, { recursive: true })
    const fresh = mkdtempSync(join(CACHE, 'debootstrap-'))
    try {
      must(host('debootstrap', ['--variant=minbase', 'bookworm', fresh, mirror()], { timeoutMs: 8 * 60_000 }), 'debootstrap')
      chmodSync(fresh, 0o755)
      must(host('tar', ['-C', fresh, '-czf', `${ROOT_TARBALL}.part`, '.']), 'tar')
      host('mv', [`${ROOT_TARBALL}.part`, ROOT_TARBALL])
    } finally {
      rmSync(fresh, { recursive: true, force: true })
    }
  }
  root = mkdtempSync('/var/tmp/phase-root-')
  must(host('tar', ['-C', root, '-xzf', ROOT_TARBALL]), 'unpacking the Debian root')
  chmodSync(root, 0o755) // as a real / is: the node's user must be able to enter it
  must(host('ip', ['netns', 'add', NETNS]), 'ip netns add')
  netns = true
  must(host('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']), 'lo up')
}, BUILD_MS + 10 * 60_000)

afterAll(async () => {
  if (node !== undefined && node.exitCode === null && node.signalCode === null) {
    node.kill('SIGKILL')
    await new Promise((resolve) => node!.once('exit', resolve))
  }
  // Anything still running from the root (a failed test) goes too.
  if (root !== '') host('sh', ['-c', `for p in /proc/[0-9]*; do [ "$(readlink $p/root)" = "${root}" ] && kill -9 \${p#/proc/}; done; true`])
  if (netns) host('ip', ['netns', 'del', NETNS])
  if (root !== '') rmSync(root, { recursive: true, force: true })
}, 60_000)

describe('the .deb', () => {
  it('has no lintian errors', () => {
    const r = host('lintian', ['--no-tag-display-limit', DEB], { timeoutMs: 5 * 60_000 })
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('E:'))
    expect({ errors, warnings: r.stdout.split('\n').filter((l) => l.startsWith('W:')).length }).toEqual({ errors: [], warnings: expect.any(Number) })
  }, 6 * 60_000)

  it('ships a unit that systemd-analyze verifies and rates at most 2.2 (README: why not 2.0), with only the capabilities pm2 needs to switch users', () => {
    const tree = mkdtempSync('/var/tmp/phase-unit-')
    try {
      must(host('dpkg-deb', ['-x', DEB, tree]), 'dpkg-deb -x')
      // The targets the unit names come from the host's systemd.
      cpSync('/lib/systemd/system', join(tree, 'lib/systemd/system'), { recursive: true, force: false, errorOnExist: false })
      const unit = join(tree, 'lib/systemd/system/plasmd.service')
      const verify = host('systemd-analyze', ['verify', `--root=${tree}`, unit])
      expect(verify.stderr + verify.stdout).toBe('')
      expect(verify.code).toBe(0)
      const security = host('systemd-analyze', ['security', '--offline=yes', `--root=${tree}`, 'plasmd.service'])
      const exposure = /Overall exposure level for plasmd\.service: ([0-9.]+)/.exec(security.stdout)
      expect(exposure).not.toBeNull()
      // 2.2, not 2.0: pm2 runs as root (CAP_SETUID/SETGID/KILL only) so that no process of the
      // node shares a user with the one that can switch users (README, "Privilege separation").
      expect(Number(exposure![1])).toBeLessThanOrEqual(2.2)
      const text = readFileSync(unit, 'utf8')
      expect(text).not.toMatch(/^MemoryDenyWriteExecute=yes/m)
      const parsed = readUnit(text)
      expect(parsed.get('CapabilityBoundingSet')).toBe('CAP_SETUID CAP_SETGID CAP_KILL')
      expect([parsed.get('User'), parsed.get('NoNewPrivileges'), parsed.get('AmbientCapabilities'), parsed.get('PrivateTmp')]).toEqual([undefined, 'yes', '', 'yes'])
      expect(parsed.get('MemoryMax')).toMatch(/^[0-9]+M$/)
      expect(parsed.get('TasksMax')).toMatch(/^[0-9]+$/)
      // The verification can fail: a unit whose program is missing does not verify.
      writeFileSync(unit, text.replace(/^ExecStart=.*$/m, 'ExecStart=/usr/lib/phase/bin/missing'))
      expect(host('systemd-analyze', ['verify', `--root=${tree}`, unit]).code).not.toBe(0)
    } finally {
      rmSync(tree, { recursive: true, force: true })
    }
  }, 60_000)

  it('installs into a clean Debian 12, runs as the unit does, serves the installed CLI, scales on reload, upgrades in place, and purges clean', async () => {
    const before = snapshot()
    copyFileSync(DEB, join(root, 'tmp/phase.deb'))
    const install = must(inRoot('apt-get install -y -q /tmp/phase.deb && rm /tmp/phase.deb', { timeoutMs: 5 * 60_000 }), 'apt-get install')
    // The maintainer scripts create the user and the state folder, and no keys.
    const phase = idsOf('phase')
    const state = statSync(join(root, 'var/lib/phase'))
    expect({ mode: state.mode & 0o777, uid: state.uid, entries: readdirSync(join(root, 'var/lib/phase')) }).toEqual({ mode: 0o700, uid: phase.uid, entries: [] })
    expect(install.stdout).not.toMatch(/private|secret/i)
    expect(must(inRoot("dpkg-query -W -f='${Conffiles}' phase"), 'dpkg-query').stdout).toContain('/etc/phase/plasmd.json')
    // The postinst filled Node's compile caches ('plasmd cache fill'), each for the user that
    // reads it: bin/plasmd's step and pm2 (root), the signer and discovery (phase), the
    // executors (root's, and a read-only copy for phase-exec); Node names each folder by its uid.
    const cache = (name: string): { owner: number, mode: string, uids: string[] } => {
      const path = join(root, 'var/cache/phase', name)
      const st = statSync(path)
      return { owner: st.uid, mode: (st.mode & 0o777).toString(8), uids: [...new Set(readdirSync(path).filter((n) => /^v[0-9]+\.[0-9]+\.[0-9]+-/.test(n)).map((n) => n.split('-').pop()!))].sort() }
    }
    const execUid = String(idsOf('phase-exec').uid)
    expect({ supervisor: cache('supervisor'), node: cache('node'), executor: cache('executor') }).toEqual({
      supervisor: { owner: 0, mode: '700', uids: ['0'] },
      node: { owner: phase.uid, mode: '700', uids: [String(phase.uid)] },
      executor: { owner: 0, mode: '755', uids: ['0', execUid].sort() }
    })
    // The root has no Node.js of its own; the CLI runs on the bundled one.
    expect(inRoot('command -v node nodejs').stdout).toBe('')
    expect(must(inRoot('plasmd config check'), 'plasmd config check').stdout).toContain('/etc/phase/plasmd.json: ok; 2 executors')

    // Start it as plasmd.service would: the unit's group, capabilities, environment, umask,
    // folders and /proc; its '+' pre-start as full root; pm2 as root with the bounding set only.
    const unit = readUnit(readFileSync(join(root, 'lib/systemd/system/plasmd.service'), 'utf8'))
    expect([unit.get('User'), unit.get('Group'), unit.env.PHASE_NODE_USER]).toEqual([undefined, 'phase', 'phase'])
    const exec = idsOf('phase-exec')
    const runtimeDir = join(root, 'run', unit.get('RuntimeDirectory')!)
    const stateDir = join(root, unit.get('ReadWritePaths')!)
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...unit.env }
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`)
    const umask = unit.get('UMask')!
    const caps = unit.get('CapabilityBoundingSet')!.split(/\s+/)
    // What the unit's sandbox does to the main process and ExecReload= (systemd not being PID 1).
    const sandboxed = `setpriv --regid=${phase.gid} --clear-groups --inh-caps=-all --bounding-set=-all,${caps.map((c) => '+' + c.slice(4).toLowerCase()).join(',')} --no-new-privs /usr/bin/env -i ${envArgs.join(' ')}`
    const privileged = `/usr/bin/env -i ${envArgs.join(' ')}`
    const procOptions = [unit.get('ProtectProc') === 'invisible' ? 'hidepid=invisible' : '', unit.get('ProcSubset') === 'pid' ? 'subset=pid' : ''].filter((o) => o !== '').join(',')
    const command = (line: string): string => line.startsWith('+') ? `${privileged} ${line.slice(1)}` : `${sandboxed} ${line}`
    const journal: string[] = []
    const pids = new Set<number>()
    const byName = new Map<string, number>()
    // What bin/plasmd's own prepare step said in the main process: it must find nothing to
    // change (the pre-start did it; the unit's system call filter would refuse a chown there).
    // The executors' compile-cache fill is the main process's own work, beside pm2's start (the
    // pre-start would hold every process back for it): counted apart.
    const mainPrepare: string[] = []
    const mainFills: string[] = []
    const startAsUnit = async (): Promise<Run> => {
      mkdirSync(runtimeDir, { recursive: true })
      chmodSync(runtimeDir, parseInt(unit.get('RuntimeDirectoryMode')!, 8))
      chownSync(runtimeDir, 0, phase.gid)
      for (const pre of unit.all('ExecStartPre')) {
        const r = must(inRoot(`umask ${umask}; exec ${command(pre)}`), `ExecStartPre ${pre}`)
        journal.push(...r.stdout.split('\n').filter((l) => l !== ''))
      }
      node = spawn('ip', ['netns', 'exec', NETNS, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c',
        // exec all the way: the spawned pid becomes pm2-runtime, the main process systemd would signal.
        'mount -t proc -o "$2" proc "$0/proc" && mount --rbind /dev "$0/dev" && umask "$1" && shift 2 && exec chroot "$0" "$@"',
        root, umask, procOptions, ...command(unit.get('ExecStart')!).split(' ')], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      node.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the node did not come up:\n${journal.slice(-30).join('\n')}\n${stderr}`)), 60_000)
        createInterface({ input: node!.stdout! }).on('line', (line) => {
          journal.push(line)
          try {
            const doc = JSON.parse(line) as { pid?: number, msg?: string, name?: string, executor?: number }
            if (typeof doc.pid === 'number') {
              pids.add(doc.pid)
              if (doc.name !== undefined && (doc.name !== 'executor' || doc.executor !== undefined)) byName.set(doc.name === 'executor' ? `executor ${String(doc.executor)}` : doc.name, doc.pid)
            }
            if (doc.name === 'plasmd') (doc.msg === "filled the executors' compile cache" ? mainFills : mainPrepare).push(line)
            if (doc.msg === 'discovery ready') { clearTimeout(timer); resolve() }
          } catch {}
        })
        node!.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the node exited with ${code}:\n${journal.slice(-30).join('\n')}\n${stderr}`)) })
      })
      // Executors answer discovery's status calls within a few seconds of the start.
      let status = inRoot('phase node status')
      for (let i = 0; i < 60 && status.code !== 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500))
        status = inRoot('phase node status')
      }
      return must(status, 'phase node status')
    }
    // Stop as systemd does: SIGTERM to the main process; everything exits cleanly.
    const stopAsUnit = async (): Promise<void> => {
      const exited = new Promise<number | null>((resolve) => node!.once('exit', (code) => resolve(code)))
      node!.kill('SIGTERM')
      expect(await exited).toBe(0)
      const alive = [...pids].filter((pid) => { try { process.kill(pid, 0); return true } catch { return false } })
      expect(alive).toEqual([])
      rmSync(runtimeDir, { recursive: true, force: true }) // systemd removes RuntimeDirectory= on stop
    }
    const status = await startAsUnit()
    // Keys appear on first start, owner-only, owned by the node's user.
    for (const file of ['receipt-key.json', 'identity.key']) {
      const s = statSync(join(stateDir, file))
      expect({ file, mode: s.mode & 0o777, uid: s.uid }).toEqual({ file, mode: 0o600, uid: phase.uid })
    }
    // Folders and sockets: the public API for the phase group; the signer and pm2's control
    // sockets for their owners only; the executors' folder for phase and the phase-exec group.
    const mode = (path: string): { path: string, mode: string, uid: number, gid: number } => {
      const st = statSync(join(runtimeDir, path))
      return { path, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid }
    }
    expect(mode('.')).toEqual({ path: '.', mode: '751', uid: phase.uid, gid: phase.gid })
    expect(mode('plasmd.sock')).toEqual({ path: 'plasmd.sock', mode: '660', uid: phase.uid, gid: phase.gid })
    expect(mode('signer.sock')).toEqual({ path: 'signer.sock', mode: '700', uid: phase.uid, gid: phase.gid })
    expect(mode('pm2')).toEqual({ path: 'pm2', mode: '700', uid: 0, gid: 0 })
    expect(mode('executors')).toEqual({ path: 'executors', mode: '770', uid: phase.uid, gid: exec.gid })
    expect(mode('executors/executor-0.sock')).toEqual({ path: 'executors/executor-0.sock', mode: '666', uid: exec.uid, gid: exec.gid })
    expect(mainPrepare).toEqual([])
    // The postinst filled the executors' cache for this code: the first start finds it current.
    expect(mainFills).toEqual([])
    expect(journal.some((l) => l.includes('"msg":"prepared folder"') && l.includes('"path":"/run/phase/executors"'))).toBe(true)
    // Who runs as whom, as the kernel says: pm2 root with the bounding set and nothing else
    // (no_new_privs), the signer and discovery as phase, the executors as phase-exec, none of
    // them with a capability or a supplementary group.
    const none = '0000000000000000'
    for (let i = 0; i < 60 && !['signer', 'discovery', 'executor 0', 'executor 1'].every((n) => byName.has(n)); i++) await new Promise((resolve) => setTimeout(resolve, 500))
    expect(credentials(node!.pid!)).toEqual({ uid: '0', gid: String(phase.gid), groups: '', capEff: capMask(caps), capPrm: capMask(caps), capAmb: none, noNewPrivs: '1' })
    for (const name of ['signer', 'discovery']) {
      expect({ name, ...credentials(byName.get(name)!) }).toEqual({ name, uid: String(phase.uid), gid: String(phase.gid), groups: '', capEff: none, capPrm: none, capAmb: none, noNewPrivs: '1' })
    }
    for (const name of ['executor 0', 'executor 1']) {
      expect({ name, ...credentials(byName.get(name)!) }).toEqual({ name, uid: String(exec.uid), gid: String(exec.gid), groups: '', capEff: none, capPrm: none, capAmb: none, noNewPrivs: '1' })
    }
    // As the executors' user: the keys unreadable, the signer, the API and pm2 unreachable, no
    // write beside its sockets. The same probe as root succeeds, so it can fail.
    const probe = (user: string): Record<string, string> => {
      const script = "const fs=require('fs'),net=require('net'),out={};const t=(k,f)=>{try{f();out[k]='ok'}catch(e){out[k]=e.code}};" +
        "for(const p of ['/var/lib/phase/receipt-key.json','/var/lib/phase/identity.key'])t('read '+p,()=>fs.readFileSync(p));" +
        "for(const d of ['/var/lib/phase','/run/phase','/run/phase/executors'])t('write '+d,()=>{const f=d+'/probe';fs.writeFileSync(f,'x');fs.unlinkSync(f)});" +
        "Promise.all(['/run/phase/signer.sock','/run/phase/plasmd.sock','/run/phase/pm2/rpc.sock','/run/phase/executors/executor-0.sock'].map(p=>new Promise(r=>{const s=net.connect(p);" +
        "s.once('connect',()=>{out['connect '+p]='ok';s.destroy();r()});s.once('error',e=>{out['connect '+p]=e.code;r()})}))).then(()=>process.stdout.write(JSON.stringify(out)))"
      const as = user === 'root' ? '' : `setpriv --reuid=${user} --regid=${user} --clear-groups `
      return JSON.parse(must(inRoot(`${as}/usr/lib/phase/node_modules/node/bin/node -e "${script}"`), `probe as ${user}`).stdout) as Record<string, string>
    }
    expect(Object.entries(probe('root')).filter(([, v]) => v !== 'ok')).toEqual([])
    expect(probe('phase-exec')).toEqual({
      'read /var/lib/phase/receipt-key.json': 'EACCES',
      'read /var/lib/phase/identity.key': 'EACCES',
      'connect /run/phase/signer.sock': 'EACCES',
      'connect /run/phase/plasmd.sock': 'EACCES',
      'connect /run/phase/pm2/rpc.sock': 'EACCES',
      'connect /run/phase/executors/executor-0.sock': 'ok',
      'write /var/lib/phase': 'EACCES',
      'write /run/phase': 'EACCES',
      'write /run/phase/executors': 'ok'
    })
    // Everything phase-exec may write on the installed system: its socket folder and what is in
    // it (searched by name: /run/phase lets it pass, not list). Left out: /tmp and /var/tmp, the
    // unit's own (PrivateTmp=yes), and /run/lock (/var/lock), read-only in the unit
    // (ProtectSystem=strict). find exits 1 for the folders it may not open: expected.
    expect([unit.get('PrivateTmp'), unit.get('ProtectSystem')]).toEqual(['yes', 'strict'])
    const writable = inRoot("setpriv --reuid=phase-exec --regid=phase-exec --clear-groups find / /run/phase/executors -xdev \\( -path /tmp -o -path /var/tmp -o -path /run/lock -o -path /var/lock \\) -prune -o -writable -print")
    expect(writable.stderr).toMatch(/find: .\/var\/lib\/phase.: Permission denied/)
    expect(writable.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['/run/phase/executors', '/run/phase/executors/executor-0.sock', '/run/phase/executors/executor-1.sock'])
    // MemoryMax=/TasksMax= from the config, as a drop-in the pre-start wrote; the unit's own
    // figures are those of the shipped config. Every thread of the node fits under TasksMax.
    const dropIn = join(root, 'etc/systemd/system/plasmd.service.d/50-limits.conf')
    const expected = (file: string): { memoryMax: string, tasksMax: string } => {
      const l = nodeLimits(loadConfig({ env: {}, file }))
      return { memoryMax: `${l.memoryMaxMb}M`, tasksMax: String(l.tasksMax) }
    }
    expect(dropInLimits(readFileSync(dropIn, 'utf8'))).toEqual(expected(join(root, 'etc/phase/plasmd.json')))
    expect({ memoryMax: unit.get('MemoryMax'), tasksMax: unit.get('TasksMax') }).toEqual(expected(join(root, 'etc/phase/plasmd.json')))
    const threads = [...new Set([node!.pid!, ...byName.values()])].reduce((n, pid) => n + Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]), 0)
    expect(threads).toBeLessThan(Number(unit.get('TasksMax')))
    // The malloc addon (services/core/process/native) shipped, and loaded by every process under
    // the unit's sandbox: signer and discovery as phase, executors as phase-exec.
    const addon = (pid: number): boolean => readFileSync(`/proc/${pid}/maps`, 'utf8').includes('/usr/lib/phase/services/core/process/build/Release/phase_malloc.node')
    expect(['signer', 'discovery', 'executor 0', 'executor 1'].map((n) => [n, byName.has(n) && addon(byName.get(n)!)])).toEqual([['signer', true], ['discovery', true], ['executor 0', true], ['executor 1', true]])
    process.stdout.write(`node threads: ${threads} (TasksMax ${unit.get('TasksMax')})\n`)
    expect(status.stdout).toMatch(/^signer +up /m)
    expect(status.stdout).toMatch(/^executor 1 +up /m)
    // Other users: refused with the way in named; members of the phase group are let in.
    const stranger = inRoot('setpriv --reuid=65534 --regid=65534 --clear-groups phase node key')
    expect({ code: stranger.code, stderr: stranger.stderr }).toEqual({ code: 77, stderr: expect.stringContaining("join the 'phase' group") })
    expect(must(inRoot(`setpriv --reuid=65534 --regid=65534 --groups=${phase.gid} phase node key`), 'phase node key as a group member').stdout).toMatch(/^[0-9a-f]{64}\n$/)
    const run = must(inRoot('phase run /usr/share/phase/examples/hello.wasm --receipt /tmp/r.json -- hi'), 'phase run')
    expect(run.stdout).toBe('ih\n')
    const verify = must(inRoot('phase verify /tmp/r.json --key "$(phase node key)"'), 'phase verify')
    expect(verify.stdout).toContain('signature')
    // Metrics from the node's HTTP unix socket (the package serves HTTP on no TCP port).
    const metrics = must(inRoot('/usr/lib/phase/node_modules/node/bin/node -e "require(\'node:http\').get({ socketPath: \'/run/phase/plasmd-http.sock\', path: \'/metrics\' }, (r) => r.pipe(process.stdout))"'), 'metrics')
    expect(metrics.stdout).toMatch(/^phase_jobs_total\{status="ok"\} 1$/m)

    // Reload as the unit does it (ExecReload, as the unit's user and environment): 2 -> 3 executors.
    const config = JSON.parse(readFileSync(join(root, 'etc/phase/plasmd.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(join(root, 'etc/phase/plasmd.json'), JSON.stringify({ ...config, executors: 3 }, null, 2))
    let reload = ''
    for (const line of unit.all('ExecReload')) reload += must(inRoot(`umask ${umask}; exec ${command(line)}`), `ExecReload ${line}`).stdout
    expect(reload).toContain('executors: 2 -> 3')
    // The limits follow the config: three executors, higher ceilings.
    expect(dropInLimits(readFileSync(dropIn, 'utf8'))).toEqual(expected(join(root, 'etc/phase/plasmd.json')))
    expect(dropInLimits(readFileSync(dropIn, 'utf8'))).not.toEqual({ memoryMax: unit.get('MemoryMax'), tasksMax: unit.get('TasksMax') })
    expect(must(inRoot('phase node status'), 'status').stdout).toMatch(/^executor 2 +up /m) // reload waited for it

    // journald's view: JSON lines only, and no secret in them.
    const receiptKey = (JSON.parse(readFileSync(join(stateDir, 'receipt-key.json'), 'utf8')) as { private_key: string }).private_key
    const identity = readFileSync(join(stateDir, 'identity.key'))
    const logs = journal.join('\n')
    expect(journal.filter((l) => { try { JSON.parse(l); return false } catch { return true } })).toEqual([])
    expect(logs).not.toContain(receiptKey)
    expect(logs).not.toContain(identity.subarray(4, 36).toString('hex'))
    expect(logs).not.toContain(identity.toString('base64'))

    const key = must(inRoot('phase node key'), 'key').stdout
    await stopAsUnit()

    // An upgrade keeps the operator's configuration and the node's keys, and the node comes
    // back as the same node. (The next version is this package with a higher version number.)
    const next = mkdtempSync('/var/tmp/phase-next-')
    try {
      must(host('dpkg-deb', ['-R', DEB, join(next, 'pkg')]), 'dpkg-deb -R')
      const control = join(next, 'pkg/DEBIAN/control')
      writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${VERSION}+next1`))
      must(host('dpkg-deb', ['--root-owner-group', '-Znone', '-b', join(next, 'pkg'), join(root, 'tmp/phase-next.deb')]), 'dpkg-deb -b')
    } finally {
      rmSync(next, { recursive: true, force: true })
    }
    const keyFile = readFileSync(join(stateDir, 'receipt-key.json'))
    must(inRoot('apt-get install -y -q /tmp/phase-next.deb && rm /tmp/phase-next.deb', { timeoutMs: 5 * 60_000 }), 'upgrade')
    expect(must(inRoot("dpkg-query -W -f='${Version}' phase"), 'version').stdout).toBe(`${VERSION}+next1`)
    expect((JSON.parse(readFileSync(join(root, 'etc/phase/plasmd.json'), 'utf8')) as { executors: number }).executors).toBe(3)
    expect(readFileSync(join(stateDir, 'receipt-key.json')).equals(keyFile)).toBe(true)
    await startAsUnit()
    expect(must(inRoot('phase node key'), 'key after upgrade').stdout).toBe(key)
    expect(must(inRoot('phase run /usr/share/phase/examples/hello.wasm -- again'), 'run after upgrade').stdout).toBe('niaga\n')
    await stopAsUnit()

    // remove keeps the configuration and the keys; purge removes them; only the user stays.
    must(inRoot('apt-get remove -y -q phase'), 'apt-get remove')
    expect(existsSync(join(stateDir, 'receipt-key.json'))).toBe(true)
    expect(existsSync(join(root, 'etc/phase/plasmd.json'))).toBe(true)
    expect(existsSync(join(root, 'usr/lib/phase'))).toBe(false)
    must(inRoot('apt-get purge -y -q phase'), 'apt-get purge')
    const after = snapshot()
    expect({ added: [...after].filter((p) => !before.has(p)), removed: [...before].filter((p) => !after.has(p)) }).toEqual({ added: [], removed: [] })
    expect(idsOf('phase').uid).toBe(phase.uid)
    expect(() => idsOf('phase-exec')).toThrow('no user phase-exec')
  }, 10 * 60_000)
})
