/**
 * Structured JSON logging. One pino logger is made at each process entry point; components
 * get children. Logs go to stdout only: the supervisor (pm2, journald) owns files. On a
 * terminal the entry point asks for `format: 'readable'` (log-lines.ts).
 */
import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino'
import { readableWriter, type LogFormat } from './log-lines.ts'

/** The narrow logger interface components depend on. */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'trace' | 'fatal' | 'child' | 'level'>

export interface LoggerInit {
  /** Process or component name, logged as `name`. */
  name: string
  /** Minimum level. Default: 'info'. */
  level?: LevelWithSilent
  /** `json` lines (default), or `readable` lines for a terminal (same content). */
  format?: LogFormat
}

/** Keys whose values must never reach a log line. */
const REDACTED_PATHS = ['privateKey', 'private_key', 'token', 'apiToken', '*.privateKey', '*.private_key', '*.token', 'req.headers.authorization']

export function createLogger (init: LoggerInit): Logger {
  const options = {
    name: init.name,
    level: init.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime
  }
  if (init.format !== 'readable') return pino(options)
  const write = readableWriter((chunk) => process.stdout.write(chunk))
  return pino(options, { write })
}

/** A logger that drops everything, for tests and embedded use. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}

/**
 * Makes an untrusted string safe to put in a log field: control characters escaped,
 * length capped. Use it for anything a client or peer sent.
 */
export function sanitize (value: unknown, maxLength = 200): string {
  const text = typeof value === 'string' ? value : String(value)
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return clean.length > maxLength ? `${clean.slice(0, maxLength)}…(${clean.length} chars)` : clean
}
