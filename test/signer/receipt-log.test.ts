/**
 * The signer's receipt log on real files: the chain verifies; every kind of tampering is named
 * by verify-log (through the real `phase receipts verify-log`); a torn tail is cut at start-up
 * and recorded, never accepted by verify-log; a process killed with SIGKILL while appending
 * loses no acknowledged receipt; rotation keeps the disk bound; the log refuses a second,
 * different receipt for a job id, across restarts too.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile, spawn } from 'node:child_process'
import { appendFile, cp, mkdtemp, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { verifyReceiptLog, HEAD_FILE, type LogReport } from '../../services/signer/src/index.ts'
import { pino } from 'pino'
import { ROOT, NODE } from '../helpers/node-harness.ts'
import { testKey, type TestKey } from './log-fixture.ts'
import { figure } from '../helpers/figures.ts'
import { waitFor } from '../helpers/wait-for.ts'

const SEG = 'seg-0000000000000000.jsonl'

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(join(ROOT, 'bin/phase'), args, { env: { PATH: process.env.PATH, HOME: tmpdir() } }, (err, stdout, stderr) => {
      resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr })
    })
  })
}

async function lines (path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(0, -1)
}

async function writeLines (path: string, l: string[]): Promise<void> {
  await writeFile(path, l.map((x) => x + '\n').join(''))
}

function kinds (r: LogReport): string[] {
  return r.findings.map((f) => f.kind)
}

describe('receipt log', () => {
  let root: string
  let key: TestKey
  /** A closed log: start 0, head 1, 20 receipts (entries 2..21), a head at 22; copied per test. */
  let pristine: string

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'phase-rlog-'))
    key = testKey()
    pristine = join(root, 'pristine')
    const log = key.open(pristine)
    for (let i = 0; i < 20; i++) { const r = key.receipt(i); log.append(r.jobId, r.bytes) }
    await log.close()
  })

  afterAll(async () => { await rm(root, { recursive: true, force: true }) })

  let n = 0
  async function copy (): Promise<string> {
    const dir = join(root, `copy-${n++}`)
    await cp(pristine, dir, { recursive: true })
    return dir
  }

  it('verifies the chain, every receipt and the signed heads when nothing was changed', async () => {
    const report = verifyReceiptLog(pristine, { publicKey: key.publicKey })
    expect(report.findings).toEqual([])
    expect(report).toMatchObject({ ok: true, receipts: 20, heads: 2, firstSeq: 0, lastSeq: 22, unsignedTail: 0, lastHead: { seq: 22 } })
    const res = await cli(['receipts', 'verify-log', '--dir', pristine, '--key', key.publicKey])
    expect(res).toMatchObject({ code: 0 })
    expect(res.stdout).toMatch(/receipt log verified: .*\n\s+23 entries \(20 receipts, 2 signed heads\)/)
  })

  it('lists and exports the logged receipts byte for byte', async () => {
    const list = await cli(['receipts', 'list', '--dir', pristine, '--json'])
    expect(list.code).toBe(0)
    const rows = JSON.parse(list.stdout) as Array<{ seq: number, job_id: string, status: string }>
    expect(rows.map((r) => r.job_id)).toEqual(Array.from({ length: 20 }, (_, i) => key.receipt(i).jobId))
    const one = await cli(['receipts', 'export', '--dir', pristine, '--job', key.receipt(7).jobId])
    expect(one.stdout).toBe(Buffer.from(key.receipt(7).bytes).toString('utf8'))
    const none = await cli(['receipts', 'export', '--dir', pristine, '--job', 'sha256:nope'])
    expect(none.code).toBe(66)
    expect((await cli(['receipts', 'list', '--dir', join(root, 'missing')])).code).toBe(66)
    expect((await cli(['receipts', 'verify-log', '--dir', pristine, '--key', 'xyz'])).code).toBe(64)
  })

  describe('verify-log names each kind of tampering', () => {
    it('names the edited entry when a receipt in the middle is changed', async () => {
      const dir = await copy()
      const l = await lines(join(dir, SEG))
      l[5] = l[5]!.replace('\\"exit_code\\":0', '\\"exit_code\\":3')
      await writeLines(join(dir, SEG), l)
      const report = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'edited', seq: 5 })]))
      expect(report.findings.every((f) => f.kind === 'edited' && f.seq === 5)).toBe(true)
      const res = await cli(['receipts', 'verify-log', '--dir', dir, '--key', key.publicKey, '--json'])
      expect(res.code).toBe(1)
      expect((JSON.parse(res.stdout) as LogReport).findings).toEqual(report.findings)
      expect(res.stderr).toMatch(/receipt log NOT verified[\s\S]*edited entry 5/)
    })

    it('names the edited entry when only its chain link was changed', async () => {
      const dir = await copy()
      const l = await lines(join(dir, SEG))
      const doc = JSON.parse(l[9]!)
      // A valid-looking prev that points nowhere: the entry itself was edited.
      l[9] = l[9]!.replace(doc.prev, 'f'.repeat(64))
      await writeLines(join(dir, SEG), l)
      const r = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(r.ok).toBe(false)
      expect(r.findings[0]).toMatchObject({ kind: 'edited', seq: 9 })
    })

    it('names a reorder when two entries swap places', async () => {
      const dir = await copy()
      const l = await lines(join(dir, SEG));
      [l[3], l[4]] = [l[4]!, l[3]!]
      await writeLines(join(dir, SEG), l)
      const res = await cli(['receipts', 'verify-log', '--dir', dir, '--key', key.publicKey])
      expect(res.code).toBe(1)
      expect(res.stderr).toMatch(/reordered: entry 4 comes where entry 3 belongs/)
    })

    it('names a deletion when an entry is removed from the middle', async () => {
      const dir = await copy()
      const l = await lines(join(dir, SEG))
      l.splice(6, 1)
      await writeLines(join(dir, SEG), l)
      const r = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(kinds(r)).toEqual(['deleted'])
      expect(r.findings[0]!.message).toMatch(/entries 6\.\.6 are missing/)
    })

    it('names a truncation when whole entries are cut from the end', async () => {
      const dir = await copy()
      const l = await lines(join(dir, SEG))
      await writeLines(join(dir, SEG), l.slice(0, -3))
      const res = await cli(['receipts', 'verify-log', '--dir', dir, '--key', key.publicKey])
      expect(res.code).toBe(1)
      expect(res.stderr).toMatch(/truncated: the signed head names entry 22, the log ends at entry 19/)
    })

    it('names a bad head signature when a head is re-signed by another key', async () => {
      const dir = await copy()
      const l = await lines(join(dir, SEG))
      const head = JSON.parse(l[22]!)
      const forged = l[22]!.replace(head.signature, head.signature.slice(0, -2) + (head.signature.endsWith('00') ? '01' : '00'))
      l[22] = forged
      await writeLines(join(dir, SEG), l)
      await writeFile(join(dir, HEAD_FILE), forged + '\n')
      const r = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(kinds(r)).toEqual(['bad_head_signature', 'bad_head_signature'])
      const other = testKey()
      expect(kinds(verifyReceiptLog(pristine, { publicKey: other.publicKey }))).toContain('bad_head_signature')
    })
  })

  describe('a torn tail', () => {
    it('is reported as truncated by verify-log, then cut, counted and recorded at start-up', async () => {
      const dir = await copy()
      const whole = await readFile(join(dir, SEG))
      const next = key.receipt('torn')
      await appendFile(join(dir, SEG), `{"job_id":"${next.jobId}","prev":"`)
      const before = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(before.ok).toBe(false)
      expect(before.findings).toEqual([expect.objectContaining({ kind: 'truncated', message: expect.stringMatching(/ends with a partial entry \(\d+ bytes/) })])

      const warnings: string[] = []
      const logger = pino({ level: 'warn' }, { write: (s: string) => { warnings.push(s) } })
      const log = key.open(dir, {}, logger)
      expect(log.stats().tornTailsRepaired).toBe(1)
      expect(warnings.join('')).toMatch(/"level":40.*cut a torn tail/)
      expect(log.append(next.jobId, next.bytes).duplicate).toBe(false)
      await log.close()
      expect((await readFile(join(dir, SEG))).subarray(0, whole.byteLength)).toEqual(whole)
      const after = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(after.findings).toEqual([])
      expect(after.repairs).toEqual([expect.objectContaining({ seq: 23, segment: SEG, truncatedBytes: expect.any(Number) })])
      expect((await cli(['receipts', 'verify-log', '--dir', dir, '--key', key.publicKey])).stdout).toMatch(/repaired at start-up \(entry 23, .*\): cut a torn tail of \d+ bytes/)
    })

    it('loses no acknowledged receipt when the appending process is killed with SIGKILL', async () => {
      const dir = join(root, 'killed')
      const child = spawn(NODE, [join(ROOT, 'test/signer/fixtures/append-loop.ts')], {
        env: { PATH: process.env.PATH, PHASE_TEST_LOG_DIR: dir, PHASE_TEST_SEED: Buffer.from(key.seed).toString('hex') },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      const acked: string[] = []
      let stderr = ''
      child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
      const exited = new Promise((resolve) => child.once('exit', resolve))
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (id) => {
          acked.push(id)
          // Well past the first rotations (16 KiB segments hold ~12 receipts).
          if (acked.length === 400) { child.kill('SIGKILL'); resolve() }
        })
        // A child that dies before it was killed fails the test with what it said, never hangs it.
        child.once('exit', (code, signal) => { if (acked.length < 400) reject(new Error(`append loop exited (${code ?? signal}) after ${acked.length} appends: ${stderr}`)) })
      })
      await exited
      // One write(2) per entry means SIGKILL itself leaves whole lines; a power cut or a full
      // disk leaves part of one. Add that torn write, then restart as the signer would.
      const segments = (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort()
      await appendFile(join(dir, segments.at(-1)!), '{"job_id":"sha256:')
      const log = key.open(dir, { segmentBytes: 16 * 1024, maxBytes: 1024 * 1024 })
      expect(log.stats().tornTailsRepaired).toBe(1)
      for (const id of acked) expect(log.has(id)).toBe(true)
      await log.close()
      const report = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(report.findings).toEqual([])
      expect(report.receipts).toBeGreaterThanOrEqual(400)
      expect(report.repairs).toHaveLength(1)
      figure('faults', 'receipt log: SIGKILL mid-append (+ torn write), acknowledged receipts lost', 0, `of ${acked.length}; tail repaired, verify-log passes`)
    })
  })

  describe('one receipt per job id', () => {
    it('returns the same bytes for the same receipt and refuses a different one, across a restart', async () => {
      const dir = join(root, 'equivocate')
      let log = key.open(dir)
      const first = key.receipt('j')
      expect(log.append(first.jobId, first.bytes).duplicate).toBe(false)
      expect(log.append(first.jobId, first.bytes).duplicate).toBe(true)
      const other = key.receipt('j', { exit_code: 1, status: 'exit' })
      expect(() => log.append(other.jobId, other.bytes)).toThrow(expect.objectContaining({ code: 'replayed_job' }))
      await log.close()
      log = key.open(dir)
      expect(() => log.append(other.jobId, other.bytes)).toThrow(expect.objectContaining({ code: 'replayed_job' }))
      expect(log.append(first.jobId, first.bytes).duplicate).toBe(true)
      await log.close()
      const report = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(report).toMatchObject({ ok: true, receipts: 1 })
    })

    it('stops start-up on an edited entry instead of appending to a broken chain', async () => {
      const dir = await copy()
      const l = await lines(join(dir, SEG))
      l.splice(6, 1)
      await writeLines(join(dir, SEG), l)
      expect(() => key.open(dir)).toThrow(expect.objectContaining({ code: 'internal', message: expect.stringMatching(/line 7 has seq 7 where 6 belongs.*verify-log/) }))
      await unlink(join(dir, SEG))
      expect(() => key.open(dir)).toThrow(/its signed head names entry 22: the log was truncated/)
    })
  })

  describe('rotation', () => {
    it('keeps the segments under max_bytes, records what it deleted, and the chain verifies across segments', async () => {
      const dir = join(root, 'rotate')
      const maxBytes = 32 * 1024
      let log = key.open(dir, { segmentBytes: 8 * 1024, maxBytes })
      let maxSeen = 0
      for (let i = 0; i < 200; i++) {
        const r = key.receipt(`rot-${i}`)
        log.append(r.jobId, r.bytes)
        if (i % 10 === 0) {
          const files = (await readdir(dir)).filter((f) => f.startsWith('seg-'))
          const sizes = await Promise.all(files.map(async (f) => (await stat(join(dir, f))).size))
          maxSeen = Math.max(maxSeen, sizes.reduce((a, b) => a + b, 0))
          expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(maxBytes)
          for (const s of sizes) expect(s).toBeLessThanOrEqual(8 * 1024)
        }
      }
      // The window is the retained segments: old ids are gone, recent ones refused.
      expect(log.has(key.receipt('rot-0').jobId)).toBe(false)
      const recent = key.receipt('rot-199', { exit_code: 2, status: 'exit' })
      expect(() => log.append(recent.jobId, recent.bytes)).toThrow(expect.objectContaining({ code: 'replayed_job' }))
      await log.close()
      const report = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(report.findings).toEqual([])
      expect(report.segments.length).toBeGreaterThan(2)
      expect(report.prunedThrough).toBe(report.firstSeq! - 1)
      log = key.open(dir, { segmentBytes: 8 * 1024, maxBytes })
      expect(log.has(key.receipt('rot-199').jobId)).toBe(true)
      await log.close()
      // Deleting the oldest retained segment by hand is not a rotation: it is named.
      const oldest = (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort()[0]!
      await unlink(join(dir, oldest))
      expect(verifyReceiptLog(dir, { publicKey: key.publicKey }).findings).toEqual([expect.objectContaining({ kind: 'deleted', message: expect.stringMatching(/removed by hand/) })])
      figure('load', 'receipt log: 200 receipts, 8 KiB segments, 32 KiB bound: most bytes on disk', maxSeen, 'bytes (bound 32768)')
    })
  })

  it('signs a head periodically after appends, and with sync_interval_ms 0 resolves each append only once fsynced', async () => {
    const dir = join(root, 'periodic')
    const log = key.open(dir, { headIntervalMs: 100, syncIntervalMs: 0 })
    try {
      const r = key.receipt('periodic')
      const { durable } = log.append(r.jobId, r.bytes)
      expect(durable).toBeInstanceOf(Promise)
      await durable
      await waitFor(() => verifyReceiptLog(dir, { publicKey: key.publicKey }).heads >= 2, { what: 'the log to sign its second head' }).catch(() => {}) // the expect below shows the report
      const report = verifyReceiptLog(dir, { publicKey: key.publicKey })
      expect(report).toMatchObject({ ok: true, heads: 2, unsignedTail: 0, lastHead: { seq: 3 } })
    } finally {
      await log.close()
    }
  })

  it('refuses to continue a log signed by another key', async () => {
    const dir = await copy()
    expect(() => testKey().open(dir)).toThrow(/was signed by key [0-9a-f]{64}, not this signer's/)
  })

  it('refuses a limit the disk bound cannot hold', () => {
    expect(() => key.open(join(root, 'bad'), { segmentBytes: 8192, maxBytes: 8192 })).toThrow(/at least 2 × segmentBytes/)
  })
})


describe('receipt log on a full disk', () => {
  it('refuses to sign (unavailable) and leaves no partial entry when the disk fills', async () => {
    // A 48 KiB tmpfs in a mount namespace of the child's own: nothing is mounted for anyone else.
    const dir = await mkdtemp(join(tmpdir(), 'phase-rlog-full-'))
    try {
      const script = `mount -t tmpfs -o size=48k phase-test "$1" && exec "$2" "$3" "$1"`
      const res = await new Promise<{ code: number, stdout: string, stderr: string }>((resolve) => {
        execFile('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', dir, NODE, join(ROOT, 'test/signer/fixtures/full-disk.ts')],
          { env: { PATH: process.env.PATH } }, (err, stdout, stderr) => resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? -1, stdout, stderr }))
      })
      expect(res.stderr).not.toMatch(/Error|error/)
      const out = JSON.parse(res.stdout) as { acked: number, failure: { code: string, message: string }, again: string, kinds: string[], allLogged: boolean, torn: number }
      expect(out.acked).toBeGreaterThan(5)
      expect(out.failure).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/ENOSPC/) })
      expect(out.again).toBe('unavailable')
      // Whole entries only: nothing torn, every acknowledged receipt still logged, the chain intact.
      expect(out.kinds).toEqual([])
      expect(out.torn).toBe(0)
      expect(out.allLogged).toBe(true)
      figure('faults', 'receipt log: disk full mid-append', out.failure.code, `after ${out.acked} receipts; no partial entry, none lost`)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
