/**
 * Test hosts in Linux network namespaces that the test creates itself (root only): namespaces,
 * veth pairs, a bridge, addresses, routes and nftables rules, all under names unique to this
 * run (`phase-t<pid>-<tag>`), and the three processes of a Phase node started inside one of them.
 * Nothing is configured outside the namespaces made here; `Lab.destroy()` removes them all.
 * Unix sockets live on the shared filesystem, so the test process talks gRPC to nodes in any
 * namespace.
 */
import { execFile } from 'node:child_process'
import { startTestNode, NODE, type TestNode } from './node-harness.ts'

export { ROOT, NODE } from './node-harness.ts'
const PREFIX = 'phase-t'

interface RunResult { code: number, stdout: string, stderr: string }

/** Runs a command without a shell; `input` goes to its stdin. */
export async function run (cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
  return await new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
      resolve({ code, stdout, stderr: err != null && stderr === '' ? err.message : stderr })
    })
    // A command that exits before reading its stdin closes the pipe: that is not an error here.
    child.stdin?.on('error', () => {})
    child.stdin?.end(input ?? '')
  })
}

/** Runs a command and throws with its output when it fails. */
export async function must (cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`)
  return r.stdout
}

/**
 * Why namespace tests cannot run here, or undefined when they can: needs root, `ip` (iproute2)
 * and `nft` (nftables), and a kernel that lets us make a namespace.
 */
export async function netnsUnavailable (): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  if ((await run('ip', ['-V'])).code !== 0) return '`ip` (Debian package iproute2) is not installed'
  if ((await run('nft', ['--version'])).code !== 0) return '`nft` (Debian package nftables) is not installed'
  const probe = `${PREFIX}${process.pid}-probe`
  const add = await run('ip', ['netns', 'add', probe])
  if (add.code !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`
  try {
    const nft = await run('ip', ['netns', 'exec', probe, 'nft', '-f', '-'], 'table ip probe { chain c { type nat hook postrouting priority 100; masquerade; }; }\n')
    if (nft.code !== 0) return `nftables NAT is not usable in a namespace: ${nft.stderr.trim()}`
  } finally {
    await run('ip', ['netns', 'del', probe])
  }
  return undefined
}

/** Removes namespaces left by earlier runs whose process is gone (a killed test run). */
async function removeStale (): Promise<void> {
  const list = await run('ip', ['netns', 'list'])
  for (const line of list.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)
    if (m === null || Number(m[1]) === process.pid) continue
    let alive = true
    try { process.kill(Number(m[1]), 0) } catch { alive = false }
    if (!alive) await run('ip', ['netns', 'del', name])
  }
}

/** A set of namespaces made for one test run. */
export class Lab {
  private readonly made: string[] = []
  private readonly id = `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 6)}`

  /** Creates a namespace with its loopback up; returns its full name. */
  async host (tag: string): Promise<string> {
    if (this.made.length === 0) await removeStale()
    const name = `${this.id}-${tag}`
    await must('ip', ['netns', 'add', name])
    this.made.push(name)
    await must('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
    return name
  }

  /** A veth pair from `a` (interface `ifA`) to `b` (interface `ifB`), both up. */
  async link (a: string, ifA: string, b: string, ifB: string): Promise<void> {
    await must('ip', ['-n', a, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', b])
    await must('ip', ['-n', a, 'link', 'set', ifA, 'up'])
    await must('ip', ['-n', b, 'link', 'set', ifB, 'up'])
  }

  /** A bridge `br0` in namespace `sw`. */
  async bridge (sw: string): Promise<void> {
    await must('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge'])
    await must('ip', ['-n', sw, 'link', 'set', 'br0', 'up'])
  }

  /** Plugs host `ns` into the bridge of `sw` with `eth0` = `cidr`. */
  async plug (sw: string, port: string, ns: string, cidr: string): Promise<void> {
    await this.link(sw, port, ns, 'eth0')
    await must('ip', ['-n', sw, 'link', 'set', port, 'master', 'br0'])
    await this.addr(ns, 'eth0', cidr)
  }

  async addr (ns: string, dev: string, cidr: string): Promise<void> {
    await must('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev])
  }

  async route (ns: string, ...args: string[]): Promise<void> {
    await must('ip', ['-n', ns, 'route', 'add', ...args])
  }

  async exec (ns: string, cmd: string, args: readonly string[], input?: string): Promise<string> {
    return await must('ip', ['netns', 'exec', ns, cmd, ...args], input)
  }

  /**
   * Makes `ns` a NAT router: forwards from `inside` to `outside` only, masquerading behind the
   * address of `outside`; from outside, only replies to connections made from inside get in.
   */
  async nat (ns: string, inside: string, outside: string): Promise<void> {
    await this.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
    await this.exec(ns, 'nft', ['-f', '-'], `
table ip phase_nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "${outside}" masquerade random; }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "${inside}" oifname "${outside}" accept
  }
  chain input {
    type filter hook input priority filter; policy drop;
    iifname "lo" accept
    ct state established,related accept
    iifname "${inside}" accept
  }
}
`)
  }

  /** Deletes every namespace made here (with their links and rules). */
  async destroy (): Promise<void> {
    const names = this.made.splice(0)
    await Promise.all(names.map(async (n) => await run('ip', ['netns', 'del', n])))
  }
}

/** Connects to `host:port` over TCP from inside `ns`: 'connected' or the error code. */
export async function tcpProbe (ns: string, host: string, port: number, timeoutMs = 2000): Promise<string> {
  const script = `const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port}, timeout: ${timeoutMs} });
s.on('connect', () => { console.log('connected'); s.destroy() });
s.on('timeout', () => { console.log('ETIMEDOUT'); s.destroy() });
s.on('error', (e) => console.log(e.code ?? e.message));`
  const r = await run('ip', ['netns', 'exec', ns, NODE, '-e', script])
  return r.stdout.trim() || `failed: ${r.stderr.trim()}`
}

export interface NsNode extends TestNode {
  ns: string
}

/**
 * Starts a node (signer, `executors` executors, discovery) inside namespace `ns`, through the
 * same harness as loopback tests; `stop()` ends every process and removes its folder.
 */
export async function startNsNode (ns: string, init: { executors?: number, config?: Record<string, unknown>, env?: Record<string, string> } = {}): Promise<NsNode> {
  const node = await startTestNode({ executors: init.executors ?? 1, config: init.config, env: init.env, wrap: ['ip', 'netns', 'exec', ns] })
  return Object.assign(node, { ns })
}

/** Polls `check` until it returns a value other than undefined, or throws after `ms`. */
export async function until<T> (what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
