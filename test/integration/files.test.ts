/**
 * Files in and out, end to end on a real node: an ordinary C program (wasi-libc, stdio only;
 * test/programs/c/copy-upper.c) reads /in/x and writes /out/y and /out/sub/count.txt. Through
 * the TS SDK (gRPC), the CLI (`--input`, `--output-dir`), JSON over HTTP and the PHP SDK: the
 * output files come back, the receipt lists each (path, sha256, size, sorted by path), every
 * client checks them against the verified receipt, and its inputs hash covers the input files.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, symlink, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { PhaseClient, manifest } from '../../sdk/ts/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { inputsHashOf } from '../../services/core/protocol/src/documents/manifest.ts'
import { ROOT, startTestNode, type TestNode } from '../helpers/node-harness.ts'

const PROGRAM = join(ROOT, 'test/programs/c/copy-upper.wasm')
const TEXT = 'one\ntwo\nthree\n'

async function run (cmd: string, args: string[], env: Record<string, string>, cwd = ROOT): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr }))
    child.stdin!.end()
  })
}

describe('files in and out', () => {
  let node: TestNode
  let client: PhaseClient
  let module: Uint8Array
  let work: string
  beforeAll(async () => {
    node = await startTestNode({ executors: 1 })
    client = new PhaseClient({ address: node.grpc })
    module = new Uint8Array(await readFile(PROGRAM))
    work = await mkdtemp(join(tmpdir(), 'phase-files-'))
  }, 120_000)
  afterAll(async () => {
    client?.close()
    await node?.stop()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('returns the files a job wrote, listed in its receipt and checked against it (TS SDK, gRPC)', async () => {
    const job = manifest(module).input('/in/x', TEXT)
    const r = await client.submit(job, module, { trustNode: true })
    expect(r.stderr).toEqual(new Uint8Array())
    expect(r.status).toBe('ok')
    expect(new TextDecoder().decode(r.stdout)).toBe('copied 3 lines\n')
    expect(r.outputs.map((f) => [f.path, Buffer.from(f.data).toString()])).toEqual([['/out/sub/count.txt', '3\n'], ['/out/y', TEXT.toUpperCase()]])
    expect(r.verification.verified).toBe(true)
    expect(r.receipt.outputs).toEqual([
      { path: '/out/sub/count.txt', hash: contentHash(Buffer.from('3\n')), bytes: 2 },
      { path: '/out/y', hash: contentHash(Buffer.from(TEXT.toUpperCase())), bytes: TEXT.length }
    ])
    expect(r.receipt.inputs_hash).toBe(inputsHashOf(r.manifest))
    expect(r.verification.verified && r.verification.checks.some((c) => c.startsWith('outputs'))).toBe(true)
  })

  it('runs again with the input file named by hash only once the node caches it', async () => {
    const data = Buffer.from(TEXT)
    // Once with the bytes: the node caches the module and the input file.
    expect((await client.submit(manifest(module).input('/in/x', data), module, { trustNode: true })).status).toBe('ok')
    const m = manifest(module).input('/in/x', data).build()
    // Then by hash only: the SDK sends no bytes, and the job still reads them.
    const r = await client.submit(m, undefined, { trustNode: true, inputs: [] })
    expect(r.status).toBe('ok')
    expect(Buffer.from(r.outputs.find((f) => f.path === '/out/y')!.data).toString()).toBe(TEXT.toUpperCase())
  })

  it('writes output files under --output-dir and input files from --input (CLI)', async () => {
    const local = join(work, 'words.txt')
    await writeFile(local, 'a\nb\n')
    const out = join(work, 'out')
    const env = { ...node.env, PHASE_API: node.grpc }
    const res = await run(join(ROOT, 'bin/phase'), ['run', PROGRAM, '--input', `${local}:/in/x`, '--output-dir', out, '--receipt', join(work, 'r.json'), '--manifest-out', join(work, 'm.json')], env)
    expect(res.stderr).toContain('wrote 2 output files')
    expect(res.code).toBe(0)
    expect(res.stdout).toBe('copied 2 lines\n')
    expect(await readFile(join(out, 'y'), 'utf8')).toBe('A\nB\n')
    expect(await readFile(join(out, 'sub', 'count.txt'), 'utf8')).toBe('2\n')
    // The README's verification: the folder against the receipt, with the manifest.
    const key = (await run(join(ROOT, 'bin/phase'), ['node', 'key'], env)).stdout.trim()
    const verified = await run(join(ROOT, 'bin/phase'), ['verify', join(work, 'r.json'), '--key', key, '--manifest', join(work, 'm.json'), '--outputs', out], env)
    expect(verified.code).toBe(0)
    expect(verified.stdout).toContain('outputs (2 files, 6 bytes)')
    await writeFile(join(out, 'y'), 'tampered')
    expect((await run(join(ROOT, 'bin/phase'), ['verify', join(work, 'r.json'), '--key', key, '--outputs', out], env)).code).toBe(1)
  })

  it('gives an input file its file name under /in by default (CLI --json)', async () => {
    const local = join(work, 'data.csv')
    await writeFile(local, 'x,y\n')
    const res = await run(join(ROOT, 'bin/phase'), ['run', PROGRAM, '--input', local, '--json', '--', '/in/data.csv'], { ...node.env, PHASE_API: node.grpc })
    expect(res.code).toBe(0)
    const json = JSON.parse(res.stdout) as { outputs: Array<{ path: string, data_base64: string }>, receipt: { outputs: unknown[] } }
    expect(json.outputs.map((f) => [f.path, Buffer.from(f.data_base64, 'base64').toString()])).toEqual([['/out/sub/count.txt', '1\n'], ['/out/y', 'X,Y\n']])
    expect(json.receipt.outputs).toHaveLength(2)
  })

  it('refuses to follow a link in --output-dir out of it (CLI)', async () => {
    const out = join(work, 'linked')
    const elsewhere = join(work, 'elsewhere')
    await mkdir(out)
    await mkdir(elsewhere)
    await symlink(elsewhere, join(out, 'sub'))
    const local = join(work, 'x')
    await writeFile(local, 'q\n')
    const res = await run(join(ROOT, 'bin/phase'), ['run', PROGRAM, '--input', `${local}:/in/x`, '--output-dir', out], { ...node.env, PHASE_API: node.grpc })
    expect(res.code).toBe(73)
    expect(res.stderr).toContain('not a folder')
    expect(await readdir(elsewhere)).toEqual([])
  })

  it('returns output files as base64 in the JSON answer (HTTP)', async () => {
    const data = Buffer.from('http\n')
    const m = { version: 1, module_hash: contentHash(module), nonce: randomBytes(16).toString('hex'), inputs: [{ path: '/in/x', hash: contentHash(data) }] }
    const res = await fetch(`http://${node.http}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ manifest: m, module: Buffer.from(module).toString('base64'), inputs: [{ hash: contentHash(data), data: data.toString('base64') }] }) })
    const json = await res.json() as { status: string, outputs: Array<{ path: string, data_base64: string }>, receipt: { outputs: Array<{ path: string, hash: string }> } }
    expect(res.status).toBe(200)
    expect(json.status).toBe('ok')
    expect(json.outputs.map((f) => f.path)).toEqual(['/out/sub/count.txt', '/out/y'])
    for (const [i, f] of json.outputs.entries()) expect(contentHash(Buffer.from(f.data_base64, 'base64'))).toBe(json.receipt.outputs[i]!.hash)
  })

  it('sends input files, verifies output files and saves them (PHP SDK; a large file uploaded raw)', async () => {
    const big = join(work, 'big.txt')
    // Over the PHP SDK's inline size: uploaded with PUT /v1/blobs/<hash> when the node lacks it.
    await writeFile(big, 'line\n'.repeat(100_000))
    const out = join(work, 'php-out')
    const script = `require 'sdk/php/autoload.php';
      $client = new Phase\\Client(getenv('PHASE_HTTP'));
      $job = Phase\\Job::fromFile(${JSON.stringify(PROGRAM)})->inputFile(${JSON.stringify(big)})->args('/in/big.txt');
      $r = $client->run($job);
      $checks = $r->verify($client->node()->receiptPublicKey);
      $written = $r->saveOutputs(${JSON.stringify(out)});
      echo json_encode(['status' => $r->status, 'stdout' => $r->stdout, 'checks' => $checks, 'written' => $written, 'cached' => $client->hasInput('sha256:' . hash_file('sha256', ${JSON.stringify(big)}))]);`
    const res = await run('php', ['-r', script], { PATH: process.env.PATH ?? '', PHASE_HTTP: `http://${node.http}` })
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    const json = JSON.parse(res.stdout) as { status: string, stdout: string, checks: string[], written: string[], cached: boolean }
    expect(json.status).toBe('ok')
    expect(json.stdout).toBe('copied 100000 lines\n')
    expect(json.checks.some((c) => c.startsWith('outputs (2 files'))).toBe(true)
    expect(json.written).toEqual([join(out, 'sub/count.txt'), join(out, 'y')])
    expect(json.cached).toBe(true)
    expect(await readFile(join(out, 'sub', 'count.txt'), 'utf8')).toBe('100000\n')
  })
})
