/**
 * Fuzzing the `phase` command line against a running node: random subcommands, options and
 * values, files that are missing, empty, a folder, random bytes, a mutated receipt, the real
 * module. Every run ends with a documented exit code and a one-line message, never an internal
 * error (70) or a stack trace; the node keeps its processes.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { figure } from '../helpers/figures.ts'
import { ROOT } from '../helpers/node-harness.ts'
import { loneSurrogate } from './arbitraries.ts'
import { deadProcesses, startFuzzNode, Tally, type FuzzNode } from './fuzz-node.ts'
import { runs, SEED, budget } from './fuzz-config.ts'

const PHASE = join(ROOT, 'bin/phase')
/** Exit codes the README documents (0 is also hello's own exit code). */
const DOCUMENTED = new Set([0, 1, 64, 65, 66, 69, 73, 75, 77, 78, 124, 125])

let f: FuzzNode
let dir: string
beforeAll(async () => {
  f = await startFuzzNode()
  dir = await mkdtemp(join(tmpdir(), 'phase-fuzz-cli-'))
  await writeFile(join(dir, 'random.bin'), randomBytes(512))
  await writeFile(join(dir, 'empty'), '')
  await writeFile(join(dir, 'receipt.json'), JSON.stringify({ version: 1, job_id: 'sha256:' + '1'.repeat(64), signature: 'ab'.repeat(64) }))
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(f.manifest()))
}, 60_000)
afterAll(async () => {
  await f?.node.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

async function phase (args: string[]): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(PHASE, args, { env: { PATH: process.env.PATH ?? '', HOME: dir, PHASE_API: f.node.grpc }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stderr }
}

describe('phase CLI under fuzzing', () => {
  it('exits with a documented code and a short message for random arguments', async () => {
    const file = fc.constantFrom(join(ROOT, 'examples/hello/hello.wasm'), join(dir, 'random.bin'), join(dir, 'empty'), dir, join(dir, 'missing'), join(dir, 'receipt.json'), join(dir, 'manifest.json'), '/dev/null', '')
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('-1', '0', '99999999999999', '1e3', 'unix:/nonexistent', '127.0.0.1:1', 'ab'.repeat(32), 'KEY=VALUE', '=', 'x'.repeat(3000)), loneSurrogate, file)
    // Mostly the flags each command knows (with random values), so runs get past the parser.
    const FLAGS: Record<string, string[]> = {
      run: ['--json', '--receipt', '--manifest-out', '--env', '--memory-mb', '--timeout-ms', '--output-bytes', '--remote', '--peer', '--replicas', '--api', '--token'],
      verify: ['--key', '--peer-id', '--manifest', '--module', '--stdout', '--stderr', '--json'],
      node: ['--json', '--api', '--token'],
      peers: ['--json', '--api'],
      config: ['--config', '-q']
    }
    const command = fc.constantFrom(['run'], ['verify'], ['node', 'key'], ['node', 'info'], ['node', 'status'], ['node'], ['node', 'frob'], ['peers'], ['config', 'check'], ['config', 'show'], ['config', 'get'], ['config'], ['help'], ['frobnicate'], [])
    const args = command.chain((cmd) => {
      const known = FLAGS[cmd[0] ?? ''] ?? []
      const flag = fc.oneof({ arbitrary: fc.constantFrom(...(known.length > 0 ? known : ['--json'])), weight: 4 }, { arbitrary: fc.constantFrom('--bogus', '-x', '--help', '--'), weight: 1 })
      const item = fc.oneof({ arbitrary: fc.tuple(flag, value).map(([k, v]) => [k, v]), weight: 3 }, { arbitrary: flag.map((k) => [k]), weight: 1 }, { arbitrary: fc.tuple(flag, value).map(([k, v]) => [`${k}=${v}`]), weight: 1 })
      const head = cmd[0] === 'run' || cmd[0] === 'verify' ? file.map((x) => [x]) : cmd[1] === 'get' ? value.map((x) => [x]) : fc.constant([])
      return fc.tuple(head, fc.array(item, { maxLength: 4 }), fc.option(fc.array(value, { maxLength: 3 })))
        .map(([h, items, after]) => [...cmd, ...h, ...items.flat(), ...(after !== null ? ['--', ...after] : [])])
    })
    const exits = new Tally()
    const bad: string[] = []
    const samples = fc.sample(args, { seed: SEED, numRuns: runs(40, 400) })
    // A few at a time: each run is a Node process.
    for (let i = 0; i < samples.length; i += 6) {
      await Promise.all(samples.slice(i, i + 6).map(async (a) => {
        const { code, stderr } = await phase(a)
        exits.add(String(code))
        if (code === null || !DOCUMENTED.has(code) || /unexpected error|^\s+at /m.test(stderr)) bad.push(`phase ${JSON.stringify(a).slice(0, 200)} → ${code}: ${stderr.slice(0, 300)}`)
      }))
    }
    figure('bad input', 'CLI fuzz runs (bin/phase against the node)', samples.length, `runs (seed ${SEED})`)
    figure('bad input', 'CLI exit codes', exits.summary())
    figure('bad input', 'CLI undocumented exits / internal errors / stack traces', bad.length, bad.length === 0 ? 'pass' : 'FAIL')
    expect(bad.slice(0, 5)).toEqual([])
    expect(deadProcesses(f)).toEqual([])
  }, budget(600_000))

  it('exits 64 naming the address when --api is one grpc-js cannot parse (was: 70 "unexpected error")', async () => {
    for (const args of [['peers', '--api', ''], ['node', 'info', '--api=']]) {
      const { code, stderr } = await phase(args)
      expect(stderr).toContain('as the node address')
      expect(code).toBe(64)
    }
  }, 60_000)
})
