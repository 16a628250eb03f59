/**
 * `phase verify R --key K --outputs DIR` (a real process): DIR mirrors the guest's /out and must
 * hold exactly the files the receipt lists, at their sizes and hashes; anything else fails the
 * `outputs` check with exit 1 and a message naming the file. A receipt file is read bounded.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ROOT } from '../helpers/node-harness.ts'
import { VECTORS_FILE } from '../vectors/generate.ts'
import { MAX_RECEIPT_BYTES } from '../../services/core/protocol/src/documents/receipt.ts'

interface Case { name: string, receipt_json: string, expect: { public_key: string, outputs?: { files_base64?: Record<string, string> } } }
const cases = (JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { cases: Case[] }).cases
const withFiles = cases.find(c => c.name === 'valid_outputs')!
const KEY = withFiles.expect.public_key
const FILES = Object.fromEntries(Object.entries(withFiles.expect.outputs!.files_base64!).map(([p, b]) => [p, Buffer.from(b, 'base64')]))

async function phase (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(join(ROOT, 'bin/phase'), args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
}

describe('phase verify --outputs', () => {
  let root: string
  let receipt: string
  let n = 0
  /** A fresh DIR holding `files` (guest path → bytes). */
  const outDir = (files: Record<string, Uint8Array>): string => {
    const dir = join(root, `out-${n++}`)
    mkdirSync(dir)
    for (const [path, bytes] of Object.entries(files)) {
      const at = join(dir, path.slice('/out/'.length))
      mkdirSync(dirname(at), { recursive: true })
      writeFileSync(at, bytes)
    }
    return dir
  }

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'phase-verify-out-'))
    receipt = join(root, 'receipt.json')
    writeFileSync(receipt, withFiles.receipt_json)
  })
  afterAll(() => { rmSync(root, { recursive: true, force: true }) })

  it('verifies a folder holding exactly the files the receipt lists, and says so', async () => {
    const dir = outDir(FILES)
    const r = await phase(['verify', receipt, '--key', KEY, '--outputs', dir])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`✓ outputs (3 files, 55 bytes) in ${dir}`)
  })

  it.each([
    ['an extra file', { ...FILES, '/out/data/stray.txt': Buffer.from('x') }, '"/out/data/stray.txt" was received but is not in the receipt\'s outputs'],
    ['a missing file', { '/out/data/result.csv': FILES['/out/data/result.csv']!, '/out/report.txt': FILES['/out/report.txt']! }, 'the receipt lists "/out/empty" (0 bytes), which was not received'],
    ['a file of the same size with other bytes', { ...FILES, '/out/report.txt': Buffer.from(FILES['/out/report.txt']!.toString().replace('3.14159', '3.14158')) }, 'the bytes received for "/out/report.txt" do not match the receipt\'s hash'],
    ['a truncated file', { ...FILES, '/out/data/result.csv': FILES['/out/data/result.csv']!.subarray(0, 4) }, 'received 4 bytes of "/out/data/result.csv", the receipt says 27'],
    ['no file at all', {}, 'which was not received']
  ])('fails the outputs check with exit 1 for %s', async (_what, files, message) => {
    const dir = outDir(files)
    const r = await phase(['verify', receipt, '--key', KEY, '--outputs', dir, '--json'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('phase: receipt NOT verified: outputs: ')
    expect(r.stderr).toContain(message)
    expect(JSON.parse(r.stdout)).toMatchObject({ verified: false, failed_check: 'outputs' })
  })

  it('refuses a symbolic link in DIR without following it', async () => {
    const { '/out/report.txt': report, ...rest } = FILES
    const dir = outDir(rest)
    writeFileSync(join(root, 'target.txt'), report!)
    symlinkSync(join(root, 'target.txt'), join(dir, 'report.txt'))
    const r = await phase(['verify', receipt, '--key', KEY, '--outputs', dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/receipt NOT verified: outputs: .*report\.txt is a symbolic link/)
  })

  it('reports a 4 GiB file at a listed path by its size, and a DIR that cannot be read with exit 66', async () => {
    const dir = outDir({ ...FILES, '/out/report.txt': new Uint8Array() })
    truncateSync(join(dir, 'report.txt'), 4 * 1024 ** 3)
    const big = await phase(['verify', receipt, '--key', KEY, '--outputs', dir])
    expect(big.code).toBe(1)
    expect(big.stderr).toContain(`received ${4 * 1024 ** 3} bytes of "/out/report.txt", the receipt says 28`)
    const missing = await phase(['verify', receipt, '--key', KEY, '--outputs', join(root, 'absent')])
    expect(missing.code).toBe(66)
    expect(missing.stderr).toContain('cannot read --outputs')
  })

  it('runs the earlier checks first: a wrong key fails at key, whatever DIR holds', async () => {
    const r = await phase(['verify', receipt, '--key', 'ab'.repeat(32), '--outputs', outDir({})])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('receipt NOT verified: key: ')
  })

  it('says the output files were not checked when --outputs is not given', async () => {
    const r = await phase(['verify', receipt, '--key', KEY])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('not checked: 3 output file(s) (pass --outputs DIR)')
  })

  it('refuses a receipt file larger than MAX_RECEIPT_BYTES at format without reading it whole (a sparse 8 GiB file)', async () => {
    const huge = join(root, 'huge.json')
    writeFileSync(huge, withFiles.receipt_json)
    truncateSync(huge, 8 * 1024 ** 3)
    const r = await phase(['verify', huge, '--key', KEY])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`receipt NOT verified: format: receipt is ${8 * 1024 ** 3} bytes, more than the ${MAX_RECEIPT_BYTES} a valid one can take`)
  })
})
