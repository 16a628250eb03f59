// pm2 ecosystem of one Phase node: signer, N executors, discovery.
// Started by bin/plasmd (`npm start`, and plasmd.service in the package) through pm2-runtime.
// bin/plasmd has validated the configuration already; the executor count comes from the same
// resolution every process uses (config file, PHASE_* overrides, embedded defaults). Node 24
// loads the TypeScript ES module synchronously here (require of ESM, type stripping).
'use strict'
const path = require('node:path')
const { loadConfig } = require('../services/core/src/config.ts')

const root = path.resolve(__dirname, '..')
const node = process.env.PHASE_NODE_BIN || process.execPath
const executors = loadConfig({ env: process.env }).executors

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
  env: { PHASE_NODE_BIN: node }
}

module.exports = {
  apps: [
    { ...common, name: 'signer', script: path.join(root, 'services/signer/src/main.ts') },
    {
      ...common,
      name: 'executor',
      script: path.join(root, 'services/executor/src/main.ts'),
      instances: executors,
      // Optimizing compiler for all wasm: no on-stack replacement means a hot loop in main
      // would otherwise stay on the baseline tier (see FACTS, "WebAssembly").
      node_args: ['--no-liftoff']
    },
    { ...common, name: 'discovery', script: path.join(root, 'services/discovery/src/main.ts') }
  ]
}
