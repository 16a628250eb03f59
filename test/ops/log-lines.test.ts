/**
 * `npm start` (bin/plasmd) in a terminal shows readable log lines — its own, pm2's and the
 * services' — and JSON lines when piped, all with one time format (ISO 8601). The terminal is a
 * real pseudo-terminal (util-linux `script`).
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { PLASMD, nodeFolder, startPm2Node } from '../helpers/pm2-node.ts'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const dirs: string[] = []
afterAll(async () => { await Promise.all(dirs.map(async (d) => await rm(d, { recursive: true, force: true }))) })

describe('plasmd log lines', () => {
  it('are JSON with an ISO time on every line, pm2\'s included, when piped', async () => {
    const node = await startPm2Node({}, 1)
    try {
      const docs = node.lines.filter((l) => !l.startsWith('stderr: ')).map((l) => JSON.parse(l) as { time: unknown, name: string })
      expect(docs.some((d) => d.name === 'pm2')).toBe(true)
      expect(docs.filter((d) => typeof d.time !== 'string' || !ISO.test(d.time))).toEqual([])
    } finally {
      await node.stop()
    }
  })

  it('are readable on a terminal: no JSON, the same ISO time, every process named', async () => {
    const { dir, env } = await nodeFolder({ executors: 1, api: { http: { port: 0 } }, p2p: { enabled: false } })
    dirs.push(dir)
    const child = spawn('script', ['-qfec', PLASMD, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 'discovery ready' and executor lines:\n${out.slice(-3000)}`)), 60_000)
      child.stdout.on('data', (d: string) => {
        out += d
        if (/discovery\[\d+\] discovery ready/.test(out) && /executor\[\d+\] grpc server listening/.test(out)) { clearTimeout(timer); resolve() }
      })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`plasmd exited ${code}:\n${out.slice(-3000)}`)) })
    })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    try {
      await ready
    } finally {
      // The supervisor (pm2-runtime, in plasmd's own process) stops the apps on SIGTERM, then script ends.
      const supervisor = /pm2\[(\d+)\]/.exec(out)?.[1]
      if (supervisor !== undefined) process.kill(Number(supervisor), 'SIGTERM')
      else child.kill('SIGKILL')
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(force)
    }
    const lines = out.split(/\r?\n/).filter((l) => l.trim() !== '')
    expect(lines.filter((l) => l.trimStart().startsWith('{'))).toEqual([])
    for (const name of ['pm2', 'signer', 'executor', 'discovery']) {
      expect({ name, found: lines.some((l) => new RegExp(`^\\S+ (INFO|WARN|DEBUG) +${name}\\[\\d+\\] `).test(l)) }).toEqual({ name, found: true })
    }
    const times = lines.map((l) => l.split(' ')[0]!).filter((t) => /^\d{4}-/.test(t))
    expect(times.length).toBeGreaterThan(3)
    expect(times.filter((t) => !ISO.test(t))).toEqual([])
  })
})
