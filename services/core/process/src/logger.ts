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
 * Escaped by sanitize: control characters, line and paragraph separators, the bidirectional
 * controls (they reorder what a terminal shows: U+061C, U+200E–F, U+202A–E, U+2066–9) and lone
 * surrogates (not text; grpc-js's encodeURI of a status message throws on them).
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

function isHighSurrogate (code: number): boolean { return code >= 0xd800 && code <= 0xdbff }

/**
 * Makes an untrusted string safe to put in a log field or an error message: the characters of
 * UNSAFE escaped as `\uXXXX`, length capped (never inside a surrogate pair). Use it for anything
 * a client or peer sent.
 */
export function sanitize (value: unknown, maxLength = 200): string {
  const text = typeof value === 'string' ? value : String(value)
  const clean = text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  if (clean.length <= maxLength) return clean
  // Cut between code points: a pair split in two would leave a lone surrogate.
  const end = isHighSurrogate(clean.charCodeAt(maxLength - 1)) ? maxLength - 1 : maxLength
  return `${clean.slice(0, end)}…(${clean.length} chars)`
}
