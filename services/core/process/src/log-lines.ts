/**
 * Log lines for a human's terminal. Every Phase process (and pm2 through ops/pm2-json-console.cjs)
 * writes one JSON object per line with an ISO 8601 `time`: that is what pm2, journald and log
 * shippers get. When stdout is a terminal (`npm start`, a process run by hand) the same lines
 * are shown readable instead:
 *
 *   2026-11-30T17:10:01.123Z INFO  discovery[4242] discovery ready grpc=unix:/run/x.sock http=127.0.0.1:7070
 *
 * The time is printed as the JSON carries it (one format everywhere). Values are escaped like
 * JSON strings, so a peer's string cannot drive the terminal. A line that is not a log object
 * passes through unchanged.
 */

/** pino's numeric levels. */
const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
/** Fields shown in the line's head, not as key=value. */
const HEAD = new Set(['level', 'time', 'pid', 'name', 'msg', 'hostname'])

export type LogFormat = 'json' | 'readable'

/**
 * `readable` when `stream` is a terminal, unless PHASE_LOG_FORMAT=json; `json` otherwise (a pipe,
 * a file, journald under systemd). PHASE_LOG_FORMAT=readable forces it. For entry points only.
 */
export function logFormat (stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): LogFormat {
  if (env.PHASE_LOG_FORMAT === 'json' || env.PHASE_LOG_FORMAT === 'readable') return env.PHASE_LOG_FORMAT
  return stream.isTTY === true ? 'readable' : 'json'
}

/** One JSON log line (without its newline) as a readable line; anything else unchanged. */
export function readableLine (line: string): string {
  if (!line.startsWith('{')) return line
  let doc: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(line)
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !('msg' in parsed || 'level' in parsed)) return line
    doc = parsed as Record<string, unknown>
  } catch {
    return line
  }
  const time = typeof doc.time === 'string' ? doc.time : typeof doc.time === 'number' ? new Date(doc.time).toISOString() : '-'
  const level = (typeof doc.level === 'number' ? LEVEL_NAMES[doc.level] : undefined) ?? String(doc.level ?? '-').toUpperCase()
  const who = `${text(doc.name ?? '-')}${doc.pid === undefined ? '' : `[${text(doc.pid)}]`}`
  const fields = Object.entries(doc).filter(([k]) => !HEAD.has(k)).map(([k, v]) => `${text(k)}=${value(v)}`)
  return [time, level.padEnd(5), who, text(doc.msg ?? ''), ...fields].join(' ')
}

/** A string as it reads on a terminal: control characters escaped as in JSON. */
function text (v: unknown): string {
  const s = typeof v === 'string' ? v : String(v)
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) ? JSON.stringify(s).slice(1, -1) : s
}

/** A field's value: bare when it is a plain word, JSON otherwise (quoted strings, objects). */
function value (v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=\u0000-\u001f\u007f-\u009f\u2028\u2029]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v) ?? String(v)
}

/**
 * A line-by-line transform: each chunk in, the readable text of the lines it completed out (a
 * partial line waits for its end; past `maxPending` bytes it passes as it is).
 */
export function readableTransform (maxPending = 1024 * 1024): (chunk: string | Uint8Array) => string {
  let pending = ''
  return (chunk) => {
    pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    const end = pending.lastIndexOf('\n')
    if (end === -1) {
      if (pending.length <= maxPending) return ''
      const all = pending
      pending = ''
      return all
    }
    const lines = pending.slice(0, end).split('\n')
    pending = pending.slice(end + 1)
    return lines.map(readableLine).join('\n') + '\n'
  }
}

type WriteArgs = [encodingOrCallback?: unknown, callback?: unknown]

/**
 * Wraps a stream's `write` so complete lines come out readable. A write whose line is not
 * complete yet still gets its callback.
 */
export function readableWriter<W extends (chunk: string, ...rest: any[]) => boolean> (write: W, maxPending?: number): (chunk: string | Uint8Array, ...rest: WriteArgs) => boolean { // eslint-disable-line @typescript-eslint/no-explicit-any
  const transform = readableTransform(maxPending)
  return (chunk, ...rest) => {
    const out = transform(chunk)
    if (out !== '') return write(out, ...rest)
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined
    if (done !== undefined) queueMicrotask(done)
    return true
  }
}
