// pm2 ecosystem of one Phase node: signer, N executors, discovery.
// Started by bin/plasmd (`npm start`, and plasmd.service in the package) through pm2-runtime.
// bin/plasmd has validated the configuration already; the executor count comes from the same
// resolution every process uses (config file, PHASE_* overrides, embedded defaults). Node 24
// loads the TypeScript ES module synchronously here (require of ESM, type stripping).
//
// Privilege separation (README): pm2 started as root runs the executors as 'phase-exec' (pm2
// switches user, group and supplementary groups before exec, so they keep no capability), and
// the signer and discovery as PHASE_NODE_USER ('phase' in plasmd.service; unset: root's own
// start keeps them as root). bin/plasmd (ops/prepare.ts) has made the folders this needs.
'use strict'
const path = require('node:path')
const { loadConfig, validatedConfigDigests } = require('../services/core/process/src/config.ts')
const { nodeLimits } = require('./limits.ts')
const { EXECUTOR_USER } = require('./prepare.ts')
const { compileCaches } = require('./compile-cache.ts')

const root = path.resolve(__dirname, '..')
const node = process.env.PHASE_NODE_BIN || process.execPath
const config = loadConfig({ env: process.env })
const limits = nodeLimits(config)
const asRoot = process.getuid() === 0
const nodeUser = asRoot && process.env.PHASE_NODE_USER ? { uid: process.env.PHASE_NODE_USER, gid: process.env.PHASE_NODE_USER } : {}
const executorUser = asRoot ? { uid: EXECUTOR_USER, gid: EXECUTOR_USER } : {}
// The node user's compile cache for the signer and discovery (ops/compile-cache.ts); none for the
// executors (pm2 would hand down its own otherwise).
const caches = compileCaches(process.env, config.runtimeDir)
const nodeCache = { NODE_COMPILE_CACHE: caches.node }
const noCache = { NODE_COMPILE_CACHE: '', NODE_DISABLE_COMPILE_CACHE: '1' }

// Measured (issue 11, bench/memory.ts): V8 lets the young generation of each process grow to
// 8 MiB semi-spaces under start-up's allocations and keeps it: capped at 1 MiB, an idle node
// takes ~45 MiB less (executor 57 → 41 MiB alone); CPU per job, all processes, stayed within
// the noise of a loaded machine (2.2–2.4 ms without, 2.3–2.8 ms with). --expose-gc: one full collection when the process goes quiet after work
// (services/core/process/src/idle-gc.ts), so a burst of jobs leaves no garbage resident. Not
// --optimize-for-size: it bounds growth too but costs ~35% more CPU per job.
const V8_FLAGS = ['--max-semi-space-size=1', '--expose-gc']

const common = {
  interpreter: node,
  cwd: root,
  exec_mode: 'fork',
  autorestart: true,
  // Processes stop on SIGINT within a few seconds (graceful gRPC shutdown); then pm2 kills.
  kill_timeout: 10000,
  // Logs are JSON lines on stdout; pm2-runtime forwards them, and journald keeps them.
  out_file: '/dev/null',
  error_file: '/dev/null',
  merge_logs: true,
  min_uptime: 2000,
  max_restarts: 50,
  exp_backoff_restart_delay: 200,
  // What pm2 would otherwise load into every app (issue 11): its metrics agent (@pm2/io, 'pmx'),
  // source maps of every dependency (Node keeps each parsed map: libp2p alone ships hundreds), and
  // a scan of the code folder for git metadata (vizion) at each start.
  pmx: false,
  disable_source_map_support: true,
  vizion: false,
  // pm2 gives a process started as another user that user's HOME: the folders are passed
  // explicitly so that every process resolves the same ones.
  env: { PHASE_NODE_BIN: node, PHASE_STATE_DIR: config.stateDir, PHASE_RUNTIME_DIR: config.runtimeDir }
}
// The apps read this configuration with these folders set: validated here, once, they skip the
// schema's compile (PHASE_CONFIG_VALIDATED, services/core/process/src/config.ts).
loadConfig({ env: { ...process.env, ...common.env } })
common.env.PHASE_CONFIG_VALIDATED = validatedConfigDigests()

module.exports = {
  apps: [
    { ...common, ...nodeUser, name: 'signer', script: path.join(root, 'services/signer/src/main.ts'), node_args: V8_FLAGS, max_memory_restart: `${limits.processMb.signer}M`, env: { ...common.env, ...nodeCache } },
    {
      ...common,
      ...executorUser,
      name: 'executor',
      script: path.join(root, 'services/executor/src/main.ts'),
      instances: config.executors,
      env: { ...common.env, ...noCache },
      max_memory_restart: `${limits.processMb.executor}M`,
      // Optimizing compiler for all wasm: no on-stack replacement means a hot loop in main
      // would otherwise stay on the baseline tier (see FACTS, "WebAssembly").
      node_args: ['--no-liftoff', ...V8_FLAGS]
    },
    { ...common, ...nodeUser, name: 'discovery', script: path.join(root, 'services/discovery/src/main.ts'), node_args: V8_FLAGS, max_memory_restart: `${limits.processMb.discovery}M`, env: { ...common.env, ...nodeCache } }
  ]
}
