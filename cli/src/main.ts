/**
 * phase — the command line of a Phase node.
 *
 *   phase run FILE [--receipt PATH] [--json] [options] [-- ARGS...]   run a wasm module (stdin is passed on)
 *   phase verify PATH --key HEX [--manifest F] [--stdout F] [--stderr F] [--outputs DIR] [--json]
 *   phase node key | info | status
 *   phase peers
 *   phase executors [filters]
 *   phase doctor
 *   phase receipts list | export | verify-log
 *
 * A client of the node through the SDK alone: the node's own configuration and executors are
 * `plasmd config` and `plasmd scale`.
 */
import { EXIT, exitCodeFor } from './exit.ts'
import { UsageError } from './usage.ts'
import { printable } from './terminal.ts'
import { takeGlobals } from './globals.ts'
import { COMMAND_HELP, HELP, helpFor } from './help.ts'

async function main (argv: string[]): Promise<number> {
  const { globals, rest: args } = takeGlobals(argv)
  const [command, ...rest] = args
  if (globals.help || command === 'help') {
    const about = command === 'help' ? rest[0] : command
    if (about !== undefined && about !== '--' && !Object.hasOwn(COMMAND_HELP, about) && !MOVED.has(about)) throw new UsageError(`unknown command '${about.slice(0, 40)}'`)
    process.stdout.write(helpFor(about))
    return EXIT.OK
  }
  const node = { api: globals.api, token: globals.token, tokenFile: globals.tokenFile }
  // Each command is loaded on use: --help and usage errors load no gRPC.
  switch (command) {
    case 'run': return await (await import('./run.ts')).runCommand(rest, process.env, node)
    case 'verify': return await (await import('./verify.ts')).verifyCommand(rest)
    case 'node': return await (await import('./node.ts')).nodeCommand(rest, process.env, node)
    case 'peers': return await (await import('./node.ts')).peersCommand(rest, process.env, node)
    case 'receipts': return await (await import('./receipts.ts')).receiptsCommand(rest, process.env, node)
    case 'executors': return await (await import('./executors.ts')).executorsCommand(rest, process.env, node)
    case 'doctor': return await (await import('./doctor.ts')).doctorCommand(rest, process.env, node)
    case 'config': throw new UsageError(`'phase config' is now 'plasmd config' (check, show, get KEY): the node's own configuration loader`)
    case undefined:
      process.stdout.write(HELP)
      return EXIT.USAGE
    default:
      throw new UsageError(`unknown command '${command.slice(0, 40)}'`)
  }
}

/** Commands that moved to plasmd: their --help still says where. */
const MOVED = new Set(['config'])

// A reader that goes away (`phase receipts list | head`) ends the command as a closed pipe ends
// any Unix tool: quietly, with SIGPIPE's status (128 + 13), not a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
  process.exit(141)
})

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`phase: ${printable(err.message)}\nTry 'phase --help'.\n`)
    process.exitCode = EXIT.USAGE
  } else if (typeof err === 'object' && err !== null && 'code' in err && (await import('@phase-network/sdk')).isPhaseError(err)) {
    process.stderr.write(`phase: ${printable(err.message)} (${err.code})\n`)
    process.exitCode = exitCodeFor(err.code)
  } else if (typeof err === 'object' && err !== null && 'exitCode' in err) {
    process.stderr.write(`phase: ${printable((err as unknown as Error).message)}\n`)
    process.exitCode = (err as { exitCode: number }).exitCode
  } else {
    process.stderr.write(`phase: unexpected error: ${printable((err as Error)?.message ?? String(err))}\n`)
    process.exitCode = EXIT.SOFTWARE
  }
}
