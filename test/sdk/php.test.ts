/**
 * The PHP SDK (sdk/php): its PHPUnit suite (the shared receipt vectors, builders, JCS against
 * the TS core, client errors and retries), then the PHP examples against real nodes — one node
 * for examples/local_test.php (over TCP and over the unix socket), two nodes on loopback
 * libp2p for examples/remote_test.php. PHP is required: CI installs it (php-cli php-curl
 * phpunit), and a missing PHP fails here, it does not skip.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/rpc/src/index.ts'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { waitFor } from '../helpers/wait-for.ts'

const P2P = { enabled: true, listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'], mdns: false, private_addresses: true, inbound_per_second: 1000 }

async function createGrpcClientInfo (node: TestNode): Promise<{ peerId: string }> {
  const client = createGrpcClient(NodeService, node.grpc)
  try { return await client.getNodeInfo({}) } finally { client.close() }
}

interface Run { code: number | null, stdout: string, stderr: string }

async function php (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return await new Promise((resolve) => {
    execFile('php', args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr })
    })
  })
}

const show = (r: Run): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`

describe('PHP SDK', () => {
  it('has php with curl, sodium and json, and phpunit (CI installs php-cli php-curl phpunit)', () => {
    const probe = spawnSync('php', ['-r', 'echo implode(",", array_map(fn ($e) => extension_loaded($e) ? "y" : "n", ["curl", "sodium", "json"]));'], { encoding: 'utf8' })
    expect(probe.error?.message ?? probe.stdout).toBe('y,y,y')
    expect(spawnSync('phpunit', ['--version'], { encoding: 'utf8' }).status).toBe(0)
  })

  it('passes its PHPUnit suite', () => {
    const run = spawnSync('phpunit', ['-c', join(ROOT, 'sdk/php/phpunit.xml')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
    expect(`exit ${run.status}\n${run.stdout}${run.stderr}`).toMatch(/^exit 0\n/)
    expect(run.stdout).toMatch(/OK \(\d+ tests/)
  })

  describe('examples/local_test.php against a real node', () => {
    let node: TestNode

    beforeAll(async () => { node = await startTestNode({ executors: 1 }) })
    afterAll(async () => { await node?.stop() })

    it('runs hello.wasm and verifies the receipt over TCP', async () => {
      const run = await php(['examples/local_test.php'], { PHASE_HTTP: `http://${node.http}` })
      expect(show(run)).toMatch(/^exit 0\n/)
      expect(run.stdout).toContain('output     dlroW ,olleH\n')
      expect(run.stdout).toContain('exit code  0 (ok)')
      expect(run.stdout).toMatch(/wall time  [\d.]+ ms/)
      expect(run.stdout).toContain('Receipt verified ✓')
      expect(run.stdout).toContain('stdout hash (13 bytes)')
    })

    it('runs over the unix socket as well', async () => {
      const run = await php(['examples/local_test.php', 'stressed'], { PHASE_HTTP: join(node.dir, 'run', 'plasmd-http.sock') })
      expect(show(run)).toMatch(/^exit 0\n/)
      expect(run.stdout).toContain('output     desserts\n')
      expect(run.stdout).toContain('Receipt verified ✓')
    })

    it('says why when the pinned key is not the node\'s', async () => {
      const run = await php(['examples/local_test.php'], { PHASE_HTTP: `http://${node.http}`, PHASE_KEY: 'ab'.repeat(32) })
      expect(run.code).toBe(1)
      expect(run.stdout).toContain('output     dlroW ,olleH')
      expect(run.stdout).toContain('Receipt NOT verified ✗ — the key check failed')
    })

    it('reports the node\'s typed error, not a stack trace', async () => {
      const script = `require 'sdk/php/autoload.php';
        $c = Phase\\Client::fromEnv();
        try { $c->run(Phase\\Job::fromHash('sha256:' . str_repeat('0', 64))); } catch (Phase\\Exception\\NodeException $e) { echo $e->errorCode, ' ', $e->httpStatus; }`
      const run = await php(['-r', script], { PHASE_HTTP: `http://${node.http}` })
      expect(show(run)).toBe('exit 0\nmodule_not_cached 409\n')
    })
  })

  describe('examples/remote_test.php on two nodes over loopback libp2p', () => {
    const nodes: TestNode[] = []

    beforeAll(async () => {
      const a = await startTestNode({ executors: 1, config: { p2p: P2P } })
      nodes.push(a)
      const quic = a.p2p.find((x) => x.includes('/quic'))!
      nodes.push(await startTestNode({ executors: 1, config: { p2p: { ...P2P, bootstrap: [quic] } } }))
      // B knows A through bootstrap; wait until B sees A as a peer that runs jobs.
      const client = createGrpcClient(NodeService, nodes[1]!.grpc)
      try {
        const aId = (await createGrpcClientInfo(nodes[0]!)).peerId
        await waitFor(async () => (await client.listPeers({})).peers.some((p) => p.runsJobs && p.peerId === aId), { what: 'B to list A as a job runner' })
      } finally {
        client.close()
      }
    })
    afterAll(async () => { await Promise.all(nodes.map(async (n) => await n.stop())) })

    it('runs hello.wasm on the other node and verifies the receipt through the PeerId binding', async () => {
      const aId = (await (await fetch(`http://${nodes[0]!.http}/v1/node`)).json() as { peer_id: string }).peer_id
      const run = await php(['examples/remote_test.php'], { PHASE_HTTP: `http://${nodes[1]!.http}` })
      expect(show(run)).toMatch(/^exit 0\n/)
      expect(run.stdout).toContain(`ran on     ${aId} (remote)`)
      expect(run.stdout).toContain('output     dlroW ,olleH\n')
      expect(run.stdout).toContain('Receipt verified ✓')
      expect(run.stdout).toContain(`peer id ${aId}`)
    })

    it('runs on a named peer', async () => {
      const aId = (await (await fetch(`http://${nodes[0]!.http}/v1/node`)).json() as { peer_id: string }).peer_id
      const run = await php(['examples/remote_test.php', 'Hi', aId], { PHASE_HTTP: join(nodes[1]!.dir, 'run', 'plasmd-http.sock') })
      expect(show(run)).toMatch(/^exit 0\n/)
      expect(run.stdout).toContain('output     iH\n')
      expect(run.stdout).toContain('Receipt verified ✓')
      // Client::peers() (GET /v1/peers): the peer that ran both jobs, with the node's evidence.
      expect(run.stdout).toMatch(/its score  0\.\d\d \(2 jobs verified, 0 failed\)/)
    })
  })
})
