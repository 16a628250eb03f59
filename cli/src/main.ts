/**
 * phase — the command line of a Phase node.
 *
 *   phase run FILE [--receipt PATH] [--json] [options] [-- ARGS...]   run a wasm module (stdin is passed on)
 *   phase verify PATH --key HEX [--manifest F] [--stdout F] [--stderr F] [--outputs DIR] [--json]
 *   phase node key | info | status | scale [N]
 *   phase config check | show | get KEY
 *   phase receipts list | export | verify-log
 */
import { runCommand } from './run.ts'
import { verifyCommand } from './verify.ts'
import { nodeCommand, peersCommand } from './node.ts'
import { EXIT, exitCodeFor } from './exit.ts'
import { isPhaseError } from '@phase-network/protocol'
import { UsageError } from './usage.ts'
import { printable } from './terminal.ts'
import { configCommand } from './config.ts'

const HELP = `phase — run WebAssembly on a Phase node and verify signed receipts

Usage:
  phase run FILE [options] [-- ARGS...]    run FILE on the node; stdin is passed to the module
      --receipt PATH        write the signed receipt (canonical JSON) to PATH
      --manifest-out PATH   write the manifest the job ran under (for 'phase verify --manifest')
      --json                print one JSON object (status, exit code, output, receipt) instead of raw output
      --env KEY=VALUE       environment variable for the module (repeatable)
      --input LOCAL[:GUEST] an input file the module reads at GUEST (default /in/<file name>; repeatable);
                            sent only when the node does not cache it
      --output-dir DIR      write the files the module wrote under /out to DIR (each verified first)
      --memory-mb N, --timeout-ms N, --output-bytes N    resource limits (the node's caps win)
      --fuel N              instruction budget: the job ends fuel_exhausted past it (the node's cap wins)
      --deterministic       deterministic profile: virtual clock from fuel, random seeded from the job id,
                            always metered; the same job gives the same output and fuel on every node
      --runtime NAME        require this runtime (v8-wasm, wasmer): a node that runs another refuses the job
                            (runtime_unavailable); with --remote, only peers that offer it are asked
      --remote              run on another node found on the network
      --peer PEERID         run on that peer
      --replicas K          run on K distinct nodes and report how many agree (use with --json)
  phase verify PATH --key HEX [options]    verify a receipt file
      --peer-id ID          also require this node identity
      --manifest PATH       check job id, nonce, module hash and inputs against this manifest
      --module PATH         check the module hash against this file
      --stdout PATH, --stderr PATH         check the output hashes against these files
      --outputs DIR         check the job's output files: DIR mirrors /out (/out/a/b.txt is DIR/a/b.txt) and must
                            hold exactly the files the receipt lists, each at its size and sha256
      --json                print the result as JSON
  phase node key                           print the node's receipt public key (hex)
  phase node info                          print the node's identity and runtime (JSON)
  phase node status [--json]               processes (pid, uptime, memory, load, restarts), versions, peers, queue
  phase node scale [N] [--no-wait]         run N executor processes (default: 'executors' from the config)
                                           without restarting the signer or discovery; as the node's user
                                           (packaged node: edit /etc/phase/plasmd.json, 'systemctl reload plasmd')
  phase peers [--json]                     connected peers: transport, latency, capabilities
  phase config check [--config F] [-q]     validate the node's configuration (exit 78 naming the bad key)
  phase config show [--config F]           the effective configuration (file + PHASE_* env + defaults), JSON
  phase config get KEY [--config F]        one effective value, e.g. runtime_dir or api.http.port
  phase receipts list [--job ID] [--limit N] [--json]   receipts the node signed (its receipt log; as the node's user)
  phase receipts export [--job ID] [--out F]            the signed receipts, exact bytes, one per line (one with --job)
  phase receipts verify-log [--key HEX] [--json]        check the log's hash chain, receipts and signed heads (exit 1:
                                           names edited entry N, reordered, deleted, truncated, bad head signature)
      --dir DIR, --config F                the log's folder (default: <state_dir>/receipts of the node's config)

Global options: --api ADDRESS (unix:/path or host:port; env PHASE_API), --token-file PATH (env PHASE_API_TOKEN_FILE),
  --token TOKEN (env PHASE_API_TOKEN; shows in 'ps': prefer --token-file)

Exit codes: 0 ok; run: the module's exit code (above 255: 255), 124 timeout, 125 trap, fuel exhausted or memory/output limit;
verify, receipts verify-log: 1 not verified; 64 usage; 65 input refused; 66 file unreadable; 69 node unavailable;
70 internal error; 73 cannot write; 75 node busy; 77 API token needed or not the node's user;
78 invalid configuration.
`

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'run': return await runCommand(rest, process.env)
    case 'verify': return await verifyCommand(rest)
    case 'node': return await nodeCommand(rest, process.env)
    case 'peers': return await peersCommand(rest, process.env)
    case 'config': return await configCommand(rest, process.env)
    // Loaded on use: it brings the signer's log reader, which no other command needs.
    case 'receipts': return await (await import('./receipts.ts')).receiptsCommand(rest, process.env)
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(HELP)
      return command === undefined ? EXIT.USAGE : EXIT.OK
    default:
      throw new UsageError(`unknown command '${command.slice(0, 40)}'`)
  }
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`phase: ${printable(err.message)}\nTry 'phase --help'.\n`)
    process.exitCode = EXIT.USAGE
  } else if (isPhaseError(err)) {
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
