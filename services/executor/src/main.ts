/**
 * Entry point of an executor process (run by pm2, or directly with Node 24). Several run side
 * by side; each serves `executor-<index>.sock`, the index coming from PHASE_EXECUTOR_INDEX or
 * pm2's NODE_APP_INSTANCE.
 */
import { runProcess } from '../../core/src/process.ts'
import { executorAddress } from '../../core/src/config.ts'
import { GrpcServer } from '../../core/src/grpc/index.ts'
import { ExecutorService } from '../../core/src/gen/phase/executor/v1/executor_pb.js'
import { createV8Runtime, createExecutorService } from './index.ts'

await runProcess('executor', async (config, logger) => {
  const raw = process.env.PHASE_EXECUTOR_INDEX ?? process.env.NODE_APP_INSTANCE ?? '0'
  if (!/^[0-9]{1,3}$/.test(raw)) throw new Error(`PHASE_EXECUTOR_INDEX must be a small integer, got '${raw.slice(0, 20)}'`)
  const index = Number(raw)
  const log = logger.child({ executor: index })
  const limits = config.limits
  const runtime = createV8Runtime({
    workers: config.workersPerExecutor,
    queueCapacity: config.queueCapacity,
    maxModuleBytes: limits.maxModuleBytes,
    maxMemoryBytes: limits.maxMemoryMb * 1024 * 1024,
    maxTimeoutMs: limits.maxTimeoutMs,
    maxOutputBytes: limits.maxOutputBytes
  }, { logger: log })
  await runtime.start()
  const server = new GrpcServer({ logger: log }, { maxMessageBytes: limits.maxModuleBytes + limits.maxStdinBytes + 1024 * 1024 })
  server.add(ExecutorService, createExecutorService({ runtime, logger: log, index }))
  await server.start(executorAddress(config.runtimeDir, index))
  return {
    stop: async () => {
      await server.stop()
      await runtime.stop()
    }
  }
})
