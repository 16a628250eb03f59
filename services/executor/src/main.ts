/**
 * Entry point of an executor process (run by pm2, or directly with Node 24). Several run side
 * by side; each serves `<runtime>/executors/executor-<index>.sock`, the index coming from
 * PHASE_EXECUTOR_INDEX or pm2's NODE_APP_INSTANCE. `executor_runtime` picks the WasmRuntime
 * (V8 worker threads, or @wasmer/sdk in runner processes; each worker is then one runner).
 */
import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fillCompileCacheIfAsked, runProcess } from '@phase-network/process'
import { executorAddress } from '@phase-network/process'
import { messageBudget } from '@phase-network/protocol/config'
import { GrpcServer } from '@phase-network/rpc'
import { ExecutorService } from '@phase-network/rpc/executor/v1'
import { createV8Runtime } from './pool/v8-runtime.ts'
import { createExecutorService } from './service.ts'

/** Sockets are created 0777 & ~umask: 0666 in a folder shared with the node's user. */
const SHARED_SOCKET_UMASK = 0o111

// ops/compile-cache.ts: started as root by plasmd's start (beside pm2's) with the executors' cache
// folder, or by `plasmd cache fill`, an executor only loads what it runs (this file's imports and
// the pool worker's) so that Node's compile cache holds all of it, then exits (the fill mode every
// process has, PHASE_FILL_CACHE=1). The executors, which may not write a cache, then read it and
// never load Node's TypeScript transpiler (~16 MiB each). A pool worker compiles worker.ts under
// the V8 flags the pool sets (pool/v8-runtime.ts), which key a cache sub-folder of their own: one
// worker started here fills that one too. index.ts: the wasmer runtime's code too, for executors
// configured to use it.
await fillCompileCacheIfAsked(() => [(async () => {
  const { createV8Runtime } = await import('./index.ts')
  const pool = createV8Runtime({ workers: 1 })
  await pool.start()
  await pool.stop()
})()])

await runProcess('executor', async (config, logger) => {
  const raw = process.env.PHASE_EXECUTOR_INDEX ?? process.env.NODE_APP_INSTANCE ?? '0'
  if (!/^[0-9]{1,3}$/.test(raw)) throw new Error(`PHASE_EXECUTOR_INDEX must be a small integer, got '${raw.slice(0, 20)}'`)
  const index = Number(raw)
  const log = logger.child({ executor: index })
  const limits = config.limits
  const caps = {
    queueCapacity: config.queueCapacity,
    maxModuleBytes: limits.maxModuleBytes,
    maxMemoryBytes: limits.maxMemoryMb * 1024 * 1024,
    maxTimeoutMs: limits.maxTimeoutMs,
    maxOutputBytes: limits.maxOutputBytes
  }
  // The wasmer runtime's code is loaded only by the executors configured to use it.
  const runtime = config.executorRuntime === 'wasmer'
    ? (await import('./wasmer/wasmer-runtime.ts')).createWasmerRuntime({ ...caps, runners: config.workersPerExecutor }, { logger: log })
    : createV8Runtime({
      ...caps,
      workers: config.workersPerExecutor,
      moduleCacheBytes: config.moduleCache.compiledBytes,
      ...(limits.maxFuel === undefined ? {} : { maxFuel: BigInt(limits.maxFuel) })
    }, { logger: log })
  await runtime.start()
  const server = new GrpcServer({ logger: log }, { maxMessageBytes: messageBudget(limits).executorRequest })
  server.add(ExecutorService, createExecutorService({ runtime, logger: log, index }))
  const address = executorAddress(config.runtimeDir, index)
  // Privilege separation (README): run as the executor user, the socket belongs to that user
  // while discovery, the folder's owner, must connect. The socket is then created open (mode
  // 0666, by the umask at bind time: no window where discovery finds it closed) and its folder
  // (node user + executor group, 0770; made by ops/prepare.ts) decides who reaches it.
  const shared = await stat(dirname(address.slice('unix:'.length))).then((s) => s.uid !== process.getuid?.(), () => false)
  const umask = shared ? process.umask(SHARED_SOCKET_UMASK) : undefined
  try {
    await server.start(address)
  } finally {
    if (umask !== undefined) process.umask(umask)
  }
  return {
    stop: async () => {
      await server.stop()
      await runtime.stop()
    }
  }
})
