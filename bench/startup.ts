/**
 * Start-up (issue 11, target ≤ 2 s): from launching the node the way `npm start` does (bin/plasmd:
 * config check, pm2-runtime, signer + executors + discovery; temp state and runtime folders, p2p
 * disabled) to the first job served — hello.wasm over the public gRPC API, its receipt verified
 * against the node's receipt key. Cold: a new state folder (keys created), empty compile caches
 * (ops/compile-cache.ts: bin/plasmd's and pm2's, the signer's and discovery's, the executors')
 * and no remembered configuration (ops/config-memo.ts): a first start whose caches nothing
 * filled (any changed file misses Node's compile cache), as after an install or an upgrade
 * without the install's fill (below), or with the cache folder wiped. Not the first start after a boot: the
 * caches are on disk (/var/cache/phase for the package, <state>/run/cache for a user's start),
 * except for a checkout started as root with the default folders, whose runtime folder, and with
 * it the signer's, discovery's and the executors' caches, is under /run (gone at a reboot).
 * Restart: the same folders. First start after install: new state and caches, which the
 * install's own step filled first (`plasmd cache fill`, run by the package's postinst and by
 * `npm install`; timed as its own row): the start an operator gets after installing or upgrading.
 * Anchors measured in the same run: a bare `node -e 0` of the project's Node, one bare Node
 * process importing the packages discovery imports (the largest process's load cost), and the
 * supervisor's floor: pm2-runtime started as bin/plasmd starts it, with four trivial apps (as
 * many as the node's signer, two executors and discovery), to the last app's first line.
 * With p2p on (the default configuration; here on loopback only: TCP and QUIC on 127.0.0.1, no
 * mDNS, no bootstrap), discovery serves local jobs while libp2p starts; the first job is sent as
 * soon as its API is up, and 'discovery ready' (the host running too) is shown beside it.
 *
 *   node --no-liftoff bench/startup.ts [--quick]
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { NodeService } from '../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../services/core/rpc/src/index.ts'
import { contentHash } from '../services/core/protocol/src/hash-node.ts'
import { verifyReceiptNode } from '../services/core/protocol/src/crypto/verify-node.ts'
import { ROOT, NODE } from '../test/helpers/node-harness.ts'
import { nodeFolder } from '../test/helpers/pm2-node.ts'
import { launchPlasmd, sessionPids } from './plasmd-launch.ts'
import { median, printTable, fmtMs, type Row } from './stats.ts'

/**
 * The packages discovery (and the core it uses) import with a default configuration (mDNS on, no
 * bootstrap list, UPnP off: bootstrap and UPnP's port mapper are loaded only when configured),
 * loaded in one bare process.
 */
const DISCOVERY_DEPS = [
  '@bufbuild/protobuf', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-quic', '@chainsafe/libp2p-yamux', '@grpc/grpc-js',
  '@grpc/reflection', '@libp2p/autonat', '@libp2p/circuit-relay-v2', '@libp2p/crypto/keys', '@libp2p/dcutr',
  '@libp2p/identify', '@libp2p/kad-dht', '@libp2p/mdns', '@libp2p/peer-id', '@libp2p/ping', '@libp2p/tcp',
  '@multiformats/multiaddr', '@noble/ed25519', 'ajv/dist/2020.js', 'canonicalize', 'datastore-core', 'grpc-health-check',
  'interface-datastore', 'libp2p', 'pino', 'prom-client'
]

/** The network on as a default configuration has it, but on loopback only. */
const LOOPBACK_P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [] }

function timeProcess (args: string[]): number {
  const t = performance.now()
  const r = spawnSync(NODE, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  const ms = performance.now() - t
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${r.stderr.toString()}`)
  return ms
}

/** pm2-runtime with `apps` trivial Node apps (each prints one line, then idles): launch → every app's line. */
async function pm2Floor (apps: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'phase-pm2-floor-'))
  try {
    await writeFile(join(dir, 'app.cjs'), "console.log('{\"msg\":\"up\"}'); setInterval(() => {}, 1 << 30)\n")
    await writeFile(join(dir, 'floor.config.cjs'), `module.exports = { apps: Array.from({ length: ${apps} }, (_, i) => ({ name: 'a' + i, script: ${JSON.stringify(join(dir, 'app.cjs'))}, interpreter: ${JSON.stringify(NODE)}, exec_mode: 'fork', out_file: '/dev/null', error_file: '/dev/null', pmx: false, vizion: false, disable_source_map_support: true })) }\n`)
    const t0 = performance.now()
    // As ops/start.ts runs it: pm2-runtime in one Node process, four apps started side by side.
    const child = spawn(NODE, ['--max-semi-space-size=1', join(ROOT, 'node_modules/pm2/bin/pm2-runtime'), 'start', join(dir, 'floor.config.cjs')], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, PM2_HOME: join(dir, 'pm2'), PM2_DISABLE_VERSION_CHECK: 'true', PM2_CONCURRENT_ACTIONS: '4' },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      return await new Promise<number>((resolve, reject) => {
        let up = 0
        createInterface({ input: child.stdout! }).on('line', (l) => { if (l.includes('"msg":"up"') && ++up === apps) resolve(performance.now() - t0) })
        void exited.then(() => reject(new Error('pm2-runtime exited before its apps were up')))
        setTimeout(() => reject(new Error(`pm2-runtime's ${apps} apps not up after 60 s`)), 60_000).unref()
      })
    } finally {
      try { process.kill(-child.pid!, 'SIGTERM') } catch {}
      await exited
      for (let i = 0; i < 100 && sessionPids(child.pid!).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** One start: launch → discovery ready → hello served and its receipt verified; then stop all. */
interface Start { total: number, pm2: number, discovery: number, ready: number }

async function startToFirstJob (env: Record<string, string>, hello: Uint8Array): Promise<Start> {
  const t0 = performance.now()
  const node = launchPlasmd(env)
  try {
    // Where the time goes: bin/plasmd's checks until pm2's first line, then until discovery is ready.
    let pm2 = NaN
    const first = setInterval(() => { if (Number.isNaN(pm2) && node.byName.has('pm2')) pm2 = performance.now() - t0 }, 5)
    let ready = NaN
    void node.discovery.then(() => { ready = performance.now() - t0 }, () => {})
    const { grpc } = await node.serving
    clearInterval(first)
    const discovery = performance.now() - t0
    const client = createGrpcClient(NodeService, grpc, { maxMessageBytes: 256 << 20 })
    try {
      const manifestJson = new TextEncoder().encode(JSON.stringify({ version: 1, module_hash: contentHash(hello), nonce: randomBytes(16).toString('hex'), args: ['Hello, World'] }))
      // Discovery is ready before its executors listen: a job sent then fails (unavailable), so,
      // as a client would, send it again every 10 ms until it is served.
      // (GetNodeInfo asks an executor for its runtime, so it waits the same way.)
      const retry = async <T>(call: () => Promise<T>): Promise<T> => {
        for (let tries = 0; ; tries++) {
          try { return await call() } catch (err) {
            if (tries > 3000) throw err
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
        }
      }
      const [info, res] = await Promise.all([retry(async () => await client.getNodeInfo({})), retry(async () => await client.submitJob({ manifestJson, module: hello }))])
      const { receipt } = await verifyReceiptNode(res.receiptJson, { publicKey: info.receiptPublicKey })
      const ms = performance.now() - t0
      if (receipt.status !== 'ok' || new TextDecoder().decode(res.stdout) !== 'dlroW ,olleH\n') throw new Error(`unexpected job result: ${receipt.status}`)
      // 'discovery ready': the whole node, p2p host included (after the first job, with p2p on).
      await node.discovery
      return { total: ms, pm2, discovery, ready }
    } finally {
      client.close()
    }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${node.lines.slice(-20).join('\n')}`)
  } finally {
    await node.stop()
  }
}

export async function startupRows (quick: boolean): Promise<Row[]> {
  const runs = quick ? 3 : 7
  const hello = new Uint8Array(await readFile(join(ROOT, 'examples/hello/hello.wasm')))
  const bare = median(Array.from({ length: runs * 3 }, () => timeProcess(['-e', '0'])))
  const imports = median(Array.from({ length: runs }, () => timeProcess(['--input-type=module', '-e', DISCOVERY_DEPS.map((d) => `import '${d}'`).join(';')])))
  const pm2: number[] = []
  for (let i = 0; i < runs; i++) pm2.push(await pm2Floor(4))
  const cold: Start[] = []
  const restart: Start[] = []
  const coldP2p: Start[] = []
  const restartP2p: Start[] = []
  const installed: Start[] = []
  const installedP2p: Start[] = []
  const fills: number[] = []
  for (let i = 0; i < runs; i++) {
    for (const p2p of [false, true]) {
      const config = { api: { http: { host: '127.0.0.1', port: 0 } }, p2p: p2p ? LOOPBACK_P2P : { enabled: false } }
      const { dir, env } = await nodeFolder(config)
      try {
        (p2p ? coldP2p : cold).push(await startToFirstJob(env, hello));
        (p2p ? restartP2p : restart).push(await startToFirstJob(env, hello))
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
      // The first start after an install: new state and caches, filled by the install's own
      // step (`plasmd cache fill`: the package's postinst, `npm install`), timed apart.
      const fresh = await nodeFolder(config)
      try {
        const t0 = performance.now()
        const fill = spawnSync(join(ROOT, 'bin/plasmd'), ['cache', 'fill'], { env: fresh.env, encoding: 'utf8' })
        if (fill.status !== 0) throw new Error(`plasmd cache fill: exit ${String(fill.status)}: ${fill.stderr}`)
        fills.push(performance.now() - t0);
        (p2p ? installedP2p : installed).push(await startToFirstJob(fresh.env, hello))
      } finally {
        await rm(fresh.dir, { recursive: true, force: true })
      }
    }
  }
  const floor = median(pm2)
  const anchor = `node -e 0 ${fmtMs(bare)}; discovery deps ${fmtMs(imports)}; pm2-runtime + 4 trivial apps ${fmtMs(floor)}`
  const ratio = (v: number): string => `${(v / bare).toFixed(0)}× / ${(v / imports).toFixed(1)}× / ${(v / floor).toFixed(1)}×`
  const m = (s: Start[], k: keyof Start): number => median(s.map((x) => x[k]))
  const range = (s: Start[]): string => `${fmtMs(Math.min(...s.map((x) => x.total)))}–${fmtMs(Math.max(...s.map((x) => x.total)))}`
  return [
    { metric: `start-up to first verified job, cold (new state, keys made, empty compile cache; median of ${runs})`, value: fmtMs(m(cold, 'total')), floor: anchor, ratio: ratio(m(cold, 'total')), target: '≤ 2 s' },
    { metric: `start-up to first verified job, restart (same state; median of ${runs})`, value: fmtMs(m(restart, 'total')), floor: anchor, ratio: ratio(m(restart, 'total')), target: '≤ 2 s' },
    { metric: `start-up to first verified job, first start after install (new state, caches filled by \`plasmd cache fill\`; median of ${runs})`, value: fmtMs(m(installed, 'total')), floor: anchor, ratio: ratio(m(installed, 'total')), target: '≤ 2 s' },
    { metric: '  the install\'s `plasmd cache fill` (every process\'s cache, before the start)', value: fmtMs(median(fills)), floor: '', ratio: '', target: '' },
    { metric: '  range cold / restart', value: range(cold), floor: range(restart), ratio: '', target: '' },
    { metric: '  cold: to pm2\'s first line (bin/plasmd checks) / to discovery ready', value: `${fmtMs(m(cold, 'pm2'))} / ${fmtMs(m(cold, 'discovery'))}`, floor: '', ratio: '', target: '' },
    { metric: '  restart: to pm2\'s first line / to discovery ready', value: `${fmtMs(m(restart, 'pm2'))} / ${fmtMs(m(restart, 'discovery'))}`, floor: '', ratio: '', target: '' },
    { metric: `start-up to first verified job, p2p on (loopback), cold (median of ${runs})`, value: fmtMs(m(coldP2p, 'total')), floor: anchor, ratio: ratio(m(coldP2p, 'total')), target: '≤ 2 s' },
    { metric: `start-up to first verified job, p2p on (loopback), restart (median of ${runs})`, value: fmtMs(m(restartP2p, 'total')), floor: anchor, ratio: ratio(m(restartP2p, 'total')), target: '≤ 2 s' },
    { metric: `start-up to first verified job, p2p on (loopback), first start after install (caches filled; median of ${runs})`, value: fmtMs(m(installedP2p, 'total')), floor: anchor, ratio: ratio(m(installedP2p, 'total')), target: '≤ 2 s' },
    { metric: '  p2p on, range cold / restart', value: range(coldP2p), floor: range(restartP2p), ratio: '', target: '' },
    { metric: '  p2p on, cold: local API up / discovery ready (p2p host up)', value: `${fmtMs(m(coldP2p, 'discovery'))} / ${fmtMs(m(coldP2p, 'ready'))}`, floor: '', ratio: '', target: '' },
    { metric: '  p2p on, restart: local API up / discovery ready (p2p host up)', value: `${fmtMs(m(restartP2p, 'discovery'))} / ${fmtMs(m(restartP2p, 'ready'))}`, floor: '', ratio: '', target: '' }
  ]
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await startupRows(process.argv.includes('--quick')))
}
