/**
 * The logger the gRPC adapter writes to: pino's, narrowed to the calls it makes. The process
 * package makes the real one; this package only names the shape, so it depends on no process code.
 */
import type { Logger as PinoLogger } from 'pino'

export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'trace' | 'fatal' | 'child' | 'level'>
