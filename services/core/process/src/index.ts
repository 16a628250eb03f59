/**
 * @phase-network/process — what each of the node's three processes stands on: the configuration
 * (validated once against schemas/config.schema.json, then frozen), the pino logger, the
 * process lifecycle (signals, graceful stop, idle GC) and secret files written atomically.
 */
export * from './config.ts'
export * from './logger.ts'
export * from './log-lines.ts'
export * from './event-log.ts'
export * from './process.ts'
export * from './idle-gc.ts'
export * from './malloc.ts'
export * from './files.ts'
