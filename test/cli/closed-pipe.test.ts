/**
 * `phase … | head`: a reader that closes the pipe ends the CLI as it ends any Unix tool, with
 * SIGPIPE's status (141) and nothing on stderr; it was an unhandled EPIPE with a stack trace.
 */
import { describe, it, expect } from '@jest/globals'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '../helpers/node-harness.ts'

describe('phase with its stdout closed by the reader', () => {
  it('exits 141 without a word on stderr', async () => {
    const child = spawn(join(ROOT, 'bin/phase'), ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
    // The reader is gone before the CLI writes its first byte.
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect({ code, stderr }).toEqual({ code: 141, stderr: '' })
  })
})
