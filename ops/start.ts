/**
 * `npm start`: runs one Phase node in the foreground under pm2-runtime with the embedded
 * defaults (or /etc/phase/plasmd.json, PHASE_CONFIG and PHASE_* overrides). The configuration
 * is validated here first, so a bad key stops the start with a message naming it.
 */
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../services/core/src/config.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
let config
try {
  config = loadConfig({ env: process.env })
} catch (err) {
  process.stderr.write(`plasmd: ${(err as Error).message}\n`)
  process.exit(78)
}
mkdirSync(config.runtimeDir, { recursive: true, mode: 0o750 })
mkdirSync(config.stateDir, { recursive: true, mode: 0o700 })
const pm2Runtime = join(root, 'node_modules', 'pm2', 'bin', 'pm2-runtime')
const child = spawn(process.execPath, [pm2Runtime, 'start', join(root, 'ops', 'ecosystem.config.cjs')], {
  stdio: 'inherit',
  env: {
    ...process.env,
    PHASE_EXECUTORS: String(config.executors),
    PHASE_STATE_DIR: config.stateDir,
    PHASE_RUNTIME_DIR: config.runtimeDir,
    PM2_HOME: process.env.PM2_HOME ?? join(config.runtimeDir, 'pm2'),
    PM2_DISABLE_VERSION_CHECK: 'true',
    PHASE_NODE_BIN: process.execPath
  }
})
// pm2-runtime stops the apps itself on SIGINT/SIGTERM; pass them on and exit with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => process.exit(code ?? (signal !== null ? 1 : 0)))
