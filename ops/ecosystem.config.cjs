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
const { compileCaches, V8_FLAGS, EXECUTOR_NODE_ARGS } = require('./compile-cache.ts')
// glibc malloc: 2 arenas, not one per allocating thread (ops/malloc.ts).
const { MALLOC_ENV } = require('./malloc.ts')
const { rememberDigests, validatorKey } = require('./config-memo.ts')

const root = path.resolve(__dirname, '..')
const node = process.env.PHASE_NODE_BIN || process.execPath
const config = loadConfig({ env: process.env })
const limits = nodeLimits(config)
const asRoot = process.getuid() === 0
const nodeUser = asRoot && process.env.PHASE_NODE_USER ? { uid: process.env.PHASE_NODE_USER, gid: process.env.PHASE_NODE_USER } : {}
const executorUser = asRoot ? { uid: EXECUTOR_USER, gid: EXECUTOR_USER } : {}
// Compile caches (ops/compile-cache.ts): the node user's for the signer and discovery; the
// executors' own, filled by root and only read by them when started as root.
const caches = compileCaches(process.env, config.runtimeDir)
const nodeCache = { NODE_COMPILE_CACHE: caches.node }
const executorCache = { NODE_COMPILE_CACHE: caches.executor }

// V8 flags: ops/compile-cache.ts (V8_FLAGS, EXECUTOR_NODE_ARGS; the compile cache is keyed by them).


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
  env: { PHASE_NODE_BIN: node, PHASE_STATE_DIR: config.stateDir, PHASE_RUNTIME_DIR: config.runtimeDir, ...MALLOC_ENV }
}
// The apps read this configuration with these folders set: validated here, once, they skip the
// schema's compile (PHASE_CONFIG_VALIDATED, services/core/process/src/config.ts).
// Those bin/plasmd's step found validated on an earlier start (ops/config-memo.ts) count too, and
// what was validated now is remembered for the next start.
loadConfig({ env: { ...process.env, ...common.env } })
common.env.PHASE_CONFIG_VALIDATED = [process.env.PHASE_CONFIG_VALIDATED, validatedConfigDigests()].filter(Boolean).join(',')
rememberDigests(process.env.NODE_COMPILE_CACHE, validatorKey(root), common.env.PHASE_CONFIG_VALIDATED)

module.exports = {
  apps: [
    { ...common, ...nodeUser, name: 'signer', script: path.join(root, 'services/signer/src/main.ts'), node_args: [...V8_FLAGS], max_memory_restart: `${limits.processMb.signer}M`, env: { ...common.env, ...nodeCache } },
    {
      ...common,
      ...executorUser,
      name: 'executor',
      // Waits for the executors' compile cache while root fills it, then loads services/executor/src/main.ts.
      script: path.join(root, 'ops/executor-start.mjs'),
      instances: config.executors,
      env: { ...common.env, ...executorCache },
      max_memory_restart: `${limits.processMb.executor}M`,
      node_args: [...EXECUTOR_NODE_ARGS]
    },
    { ...common, ...nodeUser, name: 'discovery', script: path.join(root, 'services/discovery/src/main.ts'), node_args: [...V8_FLAGS], max_memory_restart: `${limits.processMb.discovery}M`, env: { ...common.env, ...nodeCache } }
  ]
}
