/**
 * A real pino logger whose lines are kept, parsed, in memory: what tests read to check what a
 * part of the node logged (levels, messages, counts). pino writes to its stream asynchronously:
 * give it a turn of the event loop before reading a line just logged.
 */
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'

export interface CapturedLog<L> {
  logger: Logger
  /** Every line written so far, parsed. */
  lines: L[]
}

export function captureLog<L = Record<string, unknown>> (level: string, lines: L[] = []): CapturedLog<L> {
  const sink = new Writable({
    write (chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l) as L)
      done()
    }
  })
  return { logger: pino({ level }, sink), lines }
}
