/** Readable log lines for a terminal (services/core/process/src/log-lines.ts). */
import { describe, it, expect } from '@jest/globals'
import { logFormat, readableLine, readableTransform, readableWriter } from '../../services/core/process/src/log-lines.ts'

describe('readableLine', () => {
  it('shows a pino line as time, level, name[pid], message and key=value fields', () => {
    const line = JSON.stringify({ level: 30, time: '2026-11-30T17:10:01.123Z', pid: 42, name: 'discovery', msg: 'discovery ready', grpc: 'unix:/run/x.sock', http: null, peers: [1, 2] })
    expect(readableLine(line)).toBe('2026-11-30T17:10:01.123Z INFO  discovery[42] discovery ready grpc=unix:/run/x.sock http=null peers=[1,2]')
  })

  it('quotes a value with spaces and escapes control characters a peer could send', () => {
    const line = JSON.stringify({ level: 40, time: '2026-11-30T17:10:01.123Z', pid: 1, name: 'p2p', msg: 'bad \u001b[2J peer', agent: 'evil \u001b]0;x\u0007' })
    const out = readableLine(line)
    expect(out).toBe('2026-11-30T17:10:01.123Z WARN  p2p[1] bad \\u001b[2J peer agent="evil \\u001b]0;x\\u0007"')
    expect(out).not.toMatch(/[\u0000-\u001f]/)
  })

  it('shows an epoch-milliseconds time as ISO 8601, the one format', () => {
    expect(readableLine(JSON.stringify({ level: 30, time: 0, pid: 7, name: 'pm2', msg: 'App [signer:0] online' }))).toBe('1970-01-01T00:00:00.000Z INFO  pm2[7] App [signer:0] online')
  })

  it('passes a line that is not a log object through unchanged', () => {
    for (const line of ['plain text', '{not json', '[1,2]', '{"a":1}', '']) expect(readableLine(line)).toBe(line)
  })
})

describe('readableTransform', () => {
  it('holds a partial line until its end, and passes one longer than its bound as it is', () => {
    const t = readableTransform(16)
    const json = JSON.stringify({ level: 50, time: 't', pid: 1, name: 'n', msg: 'm' })
    expect(t(json.slice(0, 10))).toBe('')
    expect(t(json.slice(10) + '\nnext')).toBe('t ERROR n[1] m\n')
    expect(t(' line\n')).toBe('next line\n')
    expect(t('x'.repeat(17))).toBe('x'.repeat(17))
  })

  it('calls a write callback even when its line is not complete yet', async () => {
    const written: string[] = []
    const write = readableWriter((chunk: string) => { written.push(chunk); return true })
    await new Promise<void>((resolve) => { write('partial', resolve) })
    expect(written).toEqual([])
  })
})

describe('logFormat', () => {
  it('is readable on a terminal, JSON in a pipe, and PHASE_LOG_FORMAT decides when set', () => {
    expect(logFormat({ isTTY: true }, {})).toBe('readable')
    expect(logFormat({}, {})).toBe('json')
    expect(logFormat({ isTTY: true }, { PHASE_LOG_FORMAT: 'json' })).toBe('json')
    expect(logFormat({}, { PHASE_LOG_FORMAT: 'readable' })).toBe('readable')
  })
})
