/**
 * The shared shape of a Phase process entry point: read config from the environment once,
 * make the one logger, start the component, and stop it cleanly on SIGTERM (systemd) or
 * SIGINT (pm2). A bad config stops the start with a message naming the key.
 */
import { loadConfig, type NodeConfig } from './config.ts'
import { createLogger, type Logger } from './logger.ts'
import { logFormat } from './log-lines.ts'
import { isPhaseError } from '@phase-network/protocol/errors'
import { setSupervisorRestarts } from '@phase-network/rpc'
import { collectWhenIdle } from './idle-gc.ts'
import { mallocAddonError } from './malloc.ts'

export interface Stoppable {
  stop: () => Promise<void>
}

/**
 * With `PHASE_FILL_CACHE=1` in its environment (ops/admin/cache.ts `cacheCommand`, run by
 * `plasmd cache fill` when the node is installed or upgraded) a process only loads its code into
 * Node's compile cache (NODE_COMPILE_CACHE) and exits 0: what its entry point imported before
 * calling this, and `later`, the modules it imports only once running (p2p, reflection). Its
 * first real start then finds every file compiled and never loads Node's TypeScript transpiler
 * (~250 ms and ~16 MiB a process). Otherwise returns at once.
 */
export async function fillCompileCacheIfAsked (later: () => Array<Promise<unknown>>): Promise<void> {
  if (process.env.PHASE_FILL_CACHE !== '1') return
  await Promise.all(later())
  const { flushCompileCache } = await import('node:module')
  flushCompileCache()
  process.exit(0)
}

/** Hard limit for a clean stop; past it the process exits anyway (pm2 kills after its kill_timeout). */
const STOP_DEADLINE_MS = 8000

export async function runProcess (name: string, start: (config: NodeConfig, logger: Logger) => Promise<Stoppable>): Promise<void> {
  let config: NodeConfig
  try {
    config = loadConfig({ env: process.env })
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`)
    process.exit(78) // EX_CONFIG
  }
  const logger = createLogger({ name, level: config.logLevel, format: logFormat(process.stdout, process.env) })
  // pm2 puts its restart count of this process into the environment it starts it with.
  setSupervisorRestarts(/^[0-9]{1,10}$/.test(process.env.restart_time ?? '') ? Number(process.env.restart_time) : 0)
  let component: Stoppable
  try {
    component = await start(config, logger)
  } catch (err) {
    logger.fatal({ err: isPhaseError(err) ? err.message : err }, `${name} failed to start`)
    process.stderr.write(`${name}: ${(err as Error).message}\n`)
    process.exit(1)
  }
  const stopGc = collectWhenIdle()
  const noTrim = mallocAddonError()
  if (noTrim !== undefined) logger.warn({ err: noTrim }, `${name}: the malloc addon is missing (npm install builds it): memory freed after load stays resident`)
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    stopGc()
    logger.info({ signal }, `${name} stopping`)
    const timer = setTimeout(() => { logger.warn(`${name} did not stop in time, exiting`); process.exit(1) }, STOP_DEADLINE_MS)
    timer.unref()
    component.stop().then(() => {
      logger.info(`${name} stopped`)
      process.exit(0)
    }, (err: unknown) => {
      logger.error({ err }, `${name} stop failed`)
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // pm2 sends a 'shutdown' message on Windows-like graceful stops; harmless elsewhere.
  process.on('message', (msg) => { if (msg === 'shutdown') stop('shutdown') })
}
