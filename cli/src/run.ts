/**
 * `phase run FILE [-- ARGS...]`: a thin face on the TypeScript SDK — builds the manifest (fresh
 * nonce), submits it (module and input file bytes only when the node lacks them), refuses an
 * unverified receipt, writes the job's output files (each checked against the receipt) under
 * --output-dir, prints the module's output and exits with the module's exit code.
 */
import { writeFile } from 'node:fs/promises'
import { canonicalBytes, jobOutcomeJson, manifest } from '@phase-network/sdk'
import { connect, type NodeOptions } from './connect.ts'
import { startProgress } from './progress.ts'
import { EXIT } from './exit.ts'
import { CliError, UsageError, intOption, parse, readInput } from './usage.ts'
import { readInputFiles, writeOutputFiles } from './files.ts'

const OPTIONS = {
  receipt: { type: 'string' },
  'manifest-out': { type: 'string' },
  json: { type: 'boolean' },
  env: { type: 'string', multiple: true },
  'memory-mb': { type: 'string' },
  'timeout-ms': { type: 'string' },
  'output-bytes': { type: 'string' },
  fuel: { type: 'string' },
  deterministic: { type: 'boolean' },
  remote: { type: 'boolean' },
  replicas: { type: 'string' },
  peer: { type: 'string' },
  input: { type: 'string', multiple: true },
  'output-dir': { type: 'string' },
  runtime: { type: 'string' }
} as const

export async function runCommand (argv: string[], env: Readonly<Record<string, string | undefined>>, node: NodeOptions): Promise<number> {
  const { values, positionals, rest } = parse(argv, OPTIONS)
  if (positionals.length !== 1) throw new UsageError('run needs exactly one module file (put module arguments after --)')
  const module = await readInput(positionals[0]!, 'module')
  const stdin = process.stdin.isTTY === true ? new Uint8Array() : await readStdin()
  const builder = manifest(module)
  if (rest.length > 0) builder.args(...rest)
  const envVars = parseEnv(values.env as string[] | undefined)
  if (envVars !== undefined) builder.env(envVars)
  if (stdin.byteLength > 0) builder.stdin(stdin)
  const inputFiles = await readInputFiles((values.input as string[] | undefined) ?? [])
  for (const file of inputFiles) builder.input(file.path, file.data)
  const limits: Record<string, number> = {}
  for (const [flag, key] of [['memory-mb', 'memory_mb'], ['timeout-ms', 'timeout_ms'], ['output-bytes', 'output_bytes']] as const) {
    const v = intOption(values[flag], flag)
    if (v !== undefined) limits[key] = v
  }
  const fuel = fuelOption(values.fuel)
  if (fuel !== undefined) limits.fuel = fuel
  if (Object.keys(limits).length > 0) builder.limits(limits)
  if (values.deterministic === true) builder.profile('deterministic')
  if (values.runtime !== undefined) builder.requirements({ runtime: values.runtime as string })
  const job = builder.build()
  const peer = values.peer as string | undefined
  const replicas = intOption(values.replicas, 'replicas')
  const target = values.remote === true || peer !== undefined ? 'remote' : replicas !== undefined ? 'auto' : 'local'

  const client = connect(node, env)
  // Progress on stderr only when it is a terminal: never in a pipe or a log file.
  const progress = startProgress(process.stderr, { client })
  try {
    // The CLI trusts the node it talks to: a local run is checked against that node's key; a
    // remote run against the key the runner's signed capability record binds to its PeerId.
    let response
    try {
      response = await client.submit(job, module, { target, peerId: peer, replicas, trustNode: true, inputs: inputFiles.map((f) => f.data), onProgress: progress.update })
    } finally {
      progress.stop()
    }
    if (!response.verification.verified) throw new CliError(`receipt not verified: ${response.verification.reason}`, EXIT.NOT_VERIFIED)
    const remote = response.remote === true
    if (values.receipt !== undefined) await writeOut(values.receipt as string, response.receiptJson)
    if (values['manifest-out'] !== undefined) await writeOut(values['manifest-out'] as string, canonicalBytes(job))
    // The SDK checked every file against the verified receipt (none missing, none extra).
    const outputDir = values['output-dir'] as string | undefined
    const written = outputDir === undefined ? [] : await writeOutputFiles(outputDir, response.outputs)
    if (values.json === true) {
      process.stdout.write(JSON.stringify({
        ...jobOutcomeJson(response),
        peer_id: response.peerId,
        remote,
        ...(response.replicas.length > 0
          ? {
              agreeing: response.agreeing,
              replicas: response.replicas.map((r) => ({
                peer_id: r.peerId, status: r.status, exit_code: r.exitCode, stdout_hash: r.stdoutHash, error_code: r.errorCode || undefined, error_message: r.errorMessage || undefined,
                verified: r.verification.verified,
                receipt: r.receiptJson.byteLength > 0 ? JSON.parse(new TextDecoder().decode(r.receiptJson)) : undefined
              }))
            }
          : {}),
        verified: true,
        checks: response.verification.checks,
        receipt: response.receipt
      }, null, 2) + '\n')
    } else {
      process.stdout.write(response.stdout)
      process.stderr.write(response.stderr)
      if (written.length > 0) process.stderr.write(`phase: wrote ${written.length} output file${written.length > 1 ? 's' : ''} (verified against the receipt) under ${outputDir ?? ''}\n`)
      if (outputDir === undefined && response.outputs.length > 0) {
        process.stderr.write(`phase: the job wrote ${response.outputs.length} file${response.outputs.length > 1 ? 's' : ''} under /out; pass --output-dir DIR to save ${response.outputs.length > 1 ? 'them' : 'it'}\n`)
      }
      if (response.replicas.length > 0) {
        process.stderr.write(`phase: ${response.agreeing} of ${response.replicas.length} replicas agree on this output\n`)
      }
      if (response.status !== 'ok' && response.status !== 'exit') {
        process.stderr.write(`phase: job ended with status ${response.status} (receipt signed; job ${response.jobId})\n`)
      }
      if (response.status === 'exit' && response.exitCode > 255) {
        process.stderr.write(`phase: job exited with code ${response.exitCode}, above what a process exit status can carry: exiting 255\n`)
      }
    }
    return exitFor(response.status, response.exitCode)
  } finally {
    client.close()
  }
}

/**
 * The module's exit code is a WASI u32, a process exit status only 8 bits: 1..255 pass through,
 * anything larger exits 255 (never its low byte, which could read as 0 = success) and the real
 * code is printed on stderr and in --json.
 */
function exitFor (status: string, exitCode: number): number {
  if (status === 'ok') return EXIT.OK
  if (status === 'exit') return Math.min(Math.max(exitCode, 1), 255)
  if (status === 'timeout') return EXIT.TIMEOUT
  return EXIT.JOB_FAILED
}

/** --fuel N: 1 up to 2^53 − 1 (a JSON number stays exact). */
function fuelOption (value: unknown): number | undefined {
  if (value === undefined) return undefined
  const n = typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN
  if (!(n >= 1 && n <= Number.MAX_SAFE_INTEGER)) throw new UsageError(`--fuel must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`)
  return n
}

function parseEnv (pairs: string[] | undefined): Record<string, string> | undefined {
  if (pairs === undefined) return undefined
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--env wants KEY=VALUE, got '${pair.slice(0, 40)}'`)
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

async function readStdin (): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return new Uint8Array(Buffer.concat(chunks))
}

async function writeOut (path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(path, bytes)
  } catch (err) {
    throw new CliError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.CANT_CREATE)
  }
}
