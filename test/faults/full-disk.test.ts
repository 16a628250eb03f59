/**
 * A full disk: the node's state folder on a small tmpfs this test mounts (root only; unmounted
 * in afterAll). Creating the receipt key or the libp2p identity on a full disk stops that
 * process with a message naming the file (and leaves no partial file, so the next start on a
 * disk with room creates a whole key); a running node whose disk fills keeps serving — a new
 * module runs but is not cached on disk, no partial module file is left, cached modules keep
 * working — and caches modules again once there is room. Logs never go to the disk (stdout).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { ROOT, startTestNode, type TestNode } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'
import { figure } from '../helpers/figures.ts'
import { verifyReceiptLog } from '../../services/core/protocol/src/receipt-log/verify.ts'

const HELLO = await readFile(`${ROOT}/examples/hello/hello.wasm`)
const enc = new TextEncoder()
let mnt: string
const started: TestNode[] = []

beforeAll(async () => {
  mnt = await mkdtemp(join(tmpdir(), 'phase-full-disk-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt])
})
afterAll(async () => {
  for (const n of started) await n.stop().catch(() => {})
  try { execFileSync('umount', [mnt]) } catch {}
  await rm(mnt, { recursive: true, force: true })
})

/** Fills the tmpfs to the last byte (a file of zeros); returns a function that frees the space. */
async function fill (): Promise<() => Promise<void>> {
  const path = join(mnt, 'filler')
  try { execFileSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=4k'], { stdio: 'ignore' }) } catch { /* ENOSPC ends dd: the disk is full */ }
  return async () => { await rm(path, { force: true }) }
}

/** Every file under `dir` with its size (to spot partial or temporary files). */
async function files (dir: string): Promise<Array<[string, number]>> {
  const out: Array<[string, number]> = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) { const p = join(e.parentPath, e.name); out.push([p.slice(dir.length + 1), (await stat(p)).size]) }
  }
  return out.sort()
}

async function startOn (state: string): Promise<TestNode> {
  const node = await startTestNode({ executors: 1, config: { state_dir: state } })
  started.push(node)
  return node
}

async function job (node: TestNode, module: Uint8Array, send: boolean): Promise<{ status: string, stdout: string }> {
  const client = createGrpcClient(NodeService, node.grpc, { timeoutMs: 30_000 })
  try {
    const manifest = { version: 1, module_hash: contentHash(module), nonce: Math.random().toString(16).slice(2).padEnd(32, '0'), args: ['disk'] }
    const r = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest)), module: send ? module : undefined })
    const key = (await client.getNodeInfo({})).receiptPublicKey
    verifyReceiptNode(r.receiptJson, { publicKey: key, outputs: { stdout: r.stdout } })
    return { status: r.status, stdout: new TextDecoder().decode(r.stdout) }
  } finally {
    client.close()
  }
}

/** Stops a node and removes its state folder: the 1 MiB tmpfs holds one node's state at a time. */
async function discard (node: TestNode | undefined, state: string): Promise<void> {
  if (node !== undefined) {
    started.splice(started.indexOf(node), 1)
    await node.stop()
  }
  await rm(state, { recursive: true, force: true })
}

async function receiptKey (node: TestNode): Promise<string> {
  const client = createGrpcClient(NodeService, node.grpc, { timeoutMs: 30_000 })
  try { return (await client.getNodeInfo({})).receiptPublicKey } finally { client.close() }
}

describe('a full disk', () => {
  it('stops the signer with a message naming the receipt key when the key cannot be written, leaving no partial file', async () => {
    const state = join(mnt, 'first')
    const free = await fill()
    try {
      const err = await startOn(state).then(() => undefined, (e: Error) => e)
      expect(err?.message).toMatch(/signer exited with [1-9]/)
      expect(err?.message).toMatch(/cannot create receipt key .*ENOSPC|no space left/i)
      // No key file, and no temporary file half written.
      const left = await files(state).catch(() => [])
      expect(left.filter(([, size]) => size > 0)).toEqual([])
      figure('faults', 'full disk at first start: receipt key', 'signer stops naming the key (ENOSPC)', 'no partial file')
    } finally {
      await free()
      await discard(undefined, state)
    }
  }, 60_000)

  it('stops discovery with a message naming the identity when it cannot be written, and a later start with room creates whole keys', async () => {
    const state = join(mnt, 'second')
    // A first start with room creates both keys; the identity is then removed and the disk filled.
    const first = await startOn(state)
    const keys = await files(state)
    await first.stop()
    started.splice(started.indexOf(first), 1)
    const identity = keys.find(([p]) => !p.includes('receipt') && !p.startsWith('modules') && !p.endsWith('.wasm'))
    expect(identity).toBeDefined()
    await rm(join(state, identity![0]))
    const free = await fill()
    try {
      const err = await startOn(state).then(() => undefined, (e: Error) => e)
      expect(err?.message).toMatch(/discovery exited with [1-9]/)
      expect(err?.message).toMatch(/cannot create identity .*ENOSPC|no space left/i)
      expect((await files(state)).map(([p]) => p)).not.toContain(identity![0])
      figure('faults', 'full disk at first start: libp2p identity', 'discovery stops naming the identity (ENOSPC)', 'no partial file')
    } finally {
      await free()
    }
    const again = await startOn(state)
    try {
      expect((await job(again, HELLO, true)).status).toBe('ok')
      expect((await files(state)).find(([p]) => p === identity![0])?.[1]).toBeGreaterThan(0)
    } finally {
      await discard(again, state)
    }
  }, 120_000)

  it('refuses jobs with a typed unavailable while its disk is full (no receipt can be logged, so none is signed), leaves nothing partial, and serves again once there is room', async () => {
    const state = join(mnt, 'third')
    const node = await startOn(state)
    const key = await receiptKey(node)
    // Hello cached while there is room: the jobs below send only its hash.
    expect((await job(node, HELLO, true)).status).toBe('ok')
    const other = await compileWat('(module (memory (export "memory") 1) (func (export "_start")))')
    const free = await fill()
    try {
      // Every receipt is in the receipt log before it is returned: with no room for the entry,
      // there is no receipt — the job ends with a typed error, never with an unlogged receipt.
      // The log's last page may still hold an entry or two: until it is full, a job ends with a
      // receipt that verifies (checked in job()); from then on, with a typed unavailable.
      let served = 0
      let refused = 0
      for (let i = 0; i < 100 && refused < 2; i++) {
        try {
          await job(node, i % 2 === 0 ? other : HELLO, i % 2 === 0)
          served++
        } catch (err) {
          expect(err).toMatchObject({ code: 'unavailable' })
          refused++
        }
      }
      expect(refused).toBe(2)
      const left = await files(state)
      expect(left.filter(([p]) => p.includes(contentHash(other).slice(7)))).toEqual([])
      expect(left.filter(([p]) => p.endsWith('.tmp'))).toEqual([])
      figure('faults', 'full disk while running: jobs', `${served} served while the log's last page had room, then typed unavailable`, 'no unlogged receipt, no partial file')
    } finally {
      await free()
    }
    // Room again: jobs are served, the new module is kept, and the receipt log still verifies.
    const third = await compileWat('(module (memory (export "memory") 1) (func (export "_start") nop))')
    expect((await job(node, third, true)).status).toBe('ok')
    expect((await job(node, HELLO, false)).stdout).toBe('ksid\n')
    expect((await files(state)).map(([p]) => p)).toContainEqual(expect.stringContaining(contentHash(third).slice(7)))
    const report = verifyReceiptLog(join(state, 'receipts'), { publicKey: key })
    expect(report.findings).toEqual([])
    figure('faults', 'full disk while running: after space is freed', 'jobs ok, receipt log verifies', 'pass')
    // Logs go to stdout (journald), never into the state folder.
    expect((await files(state)).filter(([p]) => /\.log$/i.test(p))).toEqual([])
  }, 120_000)
})
