/**
 * `phase receipts list | export | verify-log`: the node's receipt log, read from its files in
 * `<state_dir>/receipts` (as the node's user; the node need not be running), or from a copy
 * (--dir). `verify-log` checks
 * the hash chain, every receipt and every signed head against the node's receipt key, and names
 * what it found (edited entry N, reordered, deleted, truncated, bad head signature); exit 1 when
 * the log does not verify.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readLog, verifyReceiptLog, RECEIPT_LOG_DIR, type LogReport } from '@phase-network/sdk/receipt-log'
import { localNode, isPhaseError } from '@phase-network/sdk'
import { connect, type NodeOptions } from './connect.ts'
import { EXIT } from './exit.ts'
import { CliError, UsageError, intOption, parse } from './usage.ts'

const OPTIONS = {
  config: { type: 'string' },
  dir: { type: 'string' },
  job: { type: 'string' },
  limit: { type: 'string' },
  out: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' }
} as const

type Values = Record<string, string | boolean | string[] | undefined>

/** Wait before verify-log reads a failing log a second time (a live signer's append or rotation). */
const LIVE_RETRY_MS = 300

export async function receiptsCommand (argv: string[], env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS)
  const [sub, ...extra] = positionals
  if (extra.length > 0) throw new UsageError(`receipts ${sub ?? ''} takes no arguments`)
  if (sub !== 'list' && sub !== 'export' && sub !== 'verify-log') throw new UsageError("receipts wants 'list', 'export' or 'verify-log'")
  const dir = (values.dir as string | undefined) ?? join(stateDir(values.config as string | undefined, env), RECEIPT_LOG_DIR)
  switch (sub) {
    case 'list': return list(dir, values)
    case 'export': return await exportReceipts(dir, values)
    case 'verify-log': return await verifyLog(dir, values, env, node)
    default: throw new UsageError("receipts wants 'list', 'export' or 'verify-log'")
  }
}

/** The node's state folder, from its configuration (as the node resolves it). */
function stateDir (file: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  try {
    return localNode({ env, file }).stateDir
  } catch (err) {
    if (isPhaseError(err, 'invalid_config')) throw new CliError(`${err.message}; pass --dir`, EXIT.CONFIG)
    throw err
  }
}

/** The receipt entries of the log, oldest first (filtered by --job, the last --limit). */
function receipts (dir: string, values: Values): Array<{ seq: number, jobId: string, receipt: string }> {
  let log: ReturnType<typeof readLog>
  try {
    log = readLog(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES') throw new CliError(`permission denied on ${dir}: run as the node's user (e.g. 'sudo -u phase phase receipts ...') or root`, EXIT.NO_PERM)
    throw new CliError(`no receipt log in ${dir} (${code ?? (err as Error).message}); pass --dir or --config`, EXIT.NO_INPUT)
  }
  if (log.segments.length === 0) throw new CliError(`no receipt log in ${dir}; pass --dir or --config`, EXIT.NO_INPUT)
  const job = values.job as string | undefined
  const out = log.records.flatMap((r) => r.entry?.type === 'receipt' && (job === undefined || r.entry.job_id === job) ? [{ seq: r.entry.seq, jobId: r.entry.job_id, receipt: r.entry.receipt }] : [])
  const limit = intOption(values.limit, 'limit')
  if (job !== undefined && out.length === 0) throw new CliError(`no receipt for job ${job.slice(0, 80)} in ${dir}`, EXIT.NO_INPUT)
  return limit === undefined ? out : out.slice(Math.max(0, out.length - limit))
}

function list (dir: string, values: Values): number {
  const rows = receipts(dir, values).map((r) => {
    let doc: { status?: string, exit_code?: number, finished_at?: string } = {}
    try { doc = JSON.parse(r.receipt) } catch {}
    return { seq: r.seq, job_id: r.jobId, status: doc.status ?? '?', exit_code: doc.exit_code ?? null, finished_at: doc.finished_at ?? '?' }
  })
  if (values.json === true) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
  } else {
    process.stdout.write('SEQ'.padEnd(8) + 'FINISHED'.padEnd(26) + 'STATUS'.padEnd(14) + 'EXIT'.padEnd(12) + 'JOB\n')
    for (const r of rows) process.stdout.write(String(r.seq).padEnd(8) + r.finished_at.padEnd(26) + r.status.padEnd(14) + String(r.exit_code).padEnd(12) + r.job_id + '\n')
  }
  return EXIT.OK
}

/** The receipts as signed (exact canonical bytes), one per line; with --job just that one. */
async function exportReceipts (dir: string, values: Values): Promise<number> {
  const rows = receipts(dir, values)
  const text = values.job !== undefined ? rows[0]!.receipt : rows.map((r) => r.receipt + '\n').join('')
  const out = values.out as string | undefined
  if (out === undefined) {
    process.stdout.write(text)
    return EXIT.OK
  }
  try {
    await writeFile(out, text)
  } catch (err) {
    throw new CliError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.CANT_CREATE)
  }
  return EXIT.OK
}

async function verifyLog (dir: string, values: Values, env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  const key = (values.key as string | undefined) ?? await nodeKey(node, env)
  if (!/^[0-9a-f]{64}$/.test(key)) throw new UsageError('--key must be the receipt public key: 64 lowercase hex characters (see `phase node key`)')
  receipts(dir, { limit: '0' }) // the same typed errors for a missing or unreadable folder
  let report = verifyReceiptLog(dir, { publicKey: key })
  if (!report.ok) {
    // A running signer may have been mid-append or mid-rotation while we read: look once more.
    // Only a log that then verifies completely passes, so this forgives no tampering.
    await new Promise((resolve) => setTimeout(resolve, LIVE_RETRY_MS))
    const again = verifyReceiptLog(dir, { publicKey: key })
    if (again.ok) report = again
  }
  if (values.json === true) process.stdout.write(JSON.stringify(reportJson(report), null, 2) + '\n')
  else printReport(dir, report)
  // As `phase verify`: the verdict goes to stderr with or without --json.
  if (!report.ok) {
    process.stderr.write(`phase: receipt log NOT verified: ${dir}\n`)
    for (const f of report.findings) process.stderr.write(`  ✗ ${f.kind}: ${f.message}\n`)
  }
  return report.ok ? EXIT.OK : EXIT.NOT_VERIFIED
}

function printReport (dir: string, r: LogReport): void {
  const w = (s: string): boolean => process.stdout.write(s + '\n')
  if (r.ok) w(`receipt log verified: ${dir}`)
  w(`  ${r.entries} entries (${r.receipts} receipts, ${r.heads} signed heads) in ${r.segments.length} segment${r.segments.length === 1 ? '' : 's'}, entries ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}`)
  w(`  last signed head: ${r.lastHead === null ? 'none yet' : `entry ${r.lastHead.seq} at ${r.lastHead.time}`}; ${r.unsignedTail} entries after it`)
  if (r.prunedThrough !== null) w(`  older segments deleted by rotation (on record): entries 0..${r.prunedThrough}`)
  for (const p of r.repairs) w(`  repaired at start-up (entry ${p.seq}, ${p.time}): cut a torn tail of ${p.truncatedBytes} bytes from ${p.segment}`)
}

/** The report as JSON with snake_case names, as every public JSON of Phase. */
export function reportJson (r: LogReport): Record<string, unknown> {
  return {
    ok: r.ok,
    findings: r.findings,
    segments: r.segments,
    entries: r.entries,
    receipts: r.receipts,
    heads: r.heads,
    first_seq: r.firstSeq,
    last_seq: r.lastSeq,
    pruned_through: r.prunedThrough,
    repairs: r.repairs.map((p) => ({ seq: p.seq, segment: p.segment, truncated_bytes: p.truncatedBytes, time: p.time })),
    last_head: r.lastHead,
    unsigned_tail: r.unsignedTail
  }
}

/** The node's receipt key, asked of the running node (as `phase node key`). */
async function nodeKey (node: NodeOptions, env: Readonly<Record<string, string | undefined>>): Promise<string> {
  let client: ReturnType<typeof connect>
  try {
    client = connect(node, env, { timeoutMs: 10_000 })
  } catch (err) {
    throw new CliError(`${(err as Error).message}; or pass --key HEX (the node's receipt key)`, (err as { exitCode?: number }).exitCode ?? EXIT.UNAVAILABLE)
  }
  try {
    return (await client.nodeInfo()).receiptPublicKey
  } catch (err) {
    throw new CliError(`cannot ask the node for its receipt key (${(err as Error).message}); pass --key HEX`, EXIT.UNAVAILABLE)
  } finally {
    client.close()
  }
}
