/**
 * The usage texts: `phase --help` prints them all; `phase COMMAND --help` (and `phase help
 * COMMAND`) the command's own, with the global options. Always on stdout, exit 0.
 */
const RUN = `  phase run FILE [options] [-- ARGS...]    run FILE on the node; stdin is passed to the module
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
    On a terminal, a progress line on stderr (bytes sent, the node's queue, elapsed); never in a pipe.
`
const VERIFY = `  phase verify PATH --key HEX [options]    verify a receipt file
      --peer-id ID          also require this node identity
      --manifest PATH       check job id, nonce, module hash and inputs against this manifest
      --module PATH         check the module hash against this file
      --stdout PATH, --stderr PATH         check the output hashes against these files
      --outputs DIR         check the job's output files: DIR mirrors /out (/out/a/b.txt is DIR/a/b.txt) and must
                            hold exactly the files the receipt lists, each at its size and sha256
      --json                print the result as JSON
`
const NODE = `  phase node key                           print the node's receipt public key (hex)
  phase node info                          print the node's identity and runtime (JSON, as GET /v1/node)
  phase node status [--json]               processes (pid, uptime, memory, load, restarts), versions, peers, queue
`
const PEERS = `  phase peers [--json]                     connected peers: transport, latency, capabilities, reputation
`
const EXECUTORS = `  phase executors [options]                nodes that run jobs, found through the DHT, their signed records
                                           checked, least loaded first (what --remote could use)
      --runtime R, --arch A, --min-memory MB, --min-cores N   only nodes that offer these
      --limit N             at most N (1-200; default 20)
      --json                print them as JSON (as GET /v1/executors)
`
const DOCTOR = `  phase doctor [--json]                    what may be wrong with the node: reachability and NAT, addresses,
                                           bootstrap peers, DHT routing table, clock skew against peers, key and
                                           socket modes, config warnings, disk and memory headroom
                                           (exit 0 nothing wrong, 1 warnings, 2 something broken)
`
const RECEIPTS = `  phase receipts list [--job ID] [--limit N] [--json]   receipts the node signed (its receipt log; as the node's user)
  phase receipts export [--job ID] [--out F]            the signed receipts, exact bytes, one per line (one with --job)
  phase receipts verify-log [--key HEX] [--json]        check the log's hash chain, receipts and signed heads (exit 1:
                                           names edited entry N, reordered, deleted, truncated, bad head signature)
      --dir DIR, --config F                the log's folder (default: <state_dir>/receipts of the node's config)
`
const GLOBAL = `Global options (anywhere before --): --api ADDRESS (unix:/path or host:port; env PHASE_API),
  --token-file PATH (env PHASE_API_TOKEN_FILE), --token TOKEN (env PHASE_API_TOKEN; shows in 'ps': prefer --token-file),
  --help, -h (this text, or a command's own)
`
const EXITS = `Exit codes: 0 ok; run: the module's exit code (above 255: 255), 124 timeout, 125 trap, fuel exhausted or memory/output limit;
verify, receipts verify-log: 1 not verified; 64 usage; 65 input refused; 66 file unreadable; 69 node unavailable;
70 internal error; 73 cannot write; 75 node busy; 77 API token needed or not the node's user;
78 invalid configuration.
`
const NODE_SIDE = `The node's own configuration and executors are plasmd's: 'plasmd config check | show | get KEY', 'plasmd scale [N]'.
`

/** The usage of each command. */
export const COMMAND_HELP: Readonly<Record<string, string>> = { run: RUN, verify: VERIFY, node: NODE, peers: PEERS, executors: EXECUTORS, doctor: DOCTOR, receipts: RECEIPTS }

export const HELP = `phase — run WebAssembly on a Phase node and verify signed receipts

Usage:
${RUN}${VERIFY}${NODE}${PEERS}${EXECUTORS}${DOCTOR}${RECEIPTS}
${GLOBAL}
${NODE_SIDE}
${EXITS}`

/** The usage of `command` (all of it when the command is not one). */
export function helpFor (command: string | undefined): string {
  const own = command === undefined ? undefined : COMMAND_HELP[command]
  return own === undefined ? HELP : `Usage:\n${own}\n${GLOBAL}`
}
