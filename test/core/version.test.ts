/** Every process reports one version: the package's own (package.json, the .deb's version). */
import { describe, it, expect } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { VERSION, processInfo } from '../../services/core/rpc/src/process-info.ts'
import { ROOT } from '../helpers/node-harness.ts'

describe('version', () => {
  it('is package.json\'s version, and process info reports it with this process', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect(VERSION).toBe(pkg.version)
    const info = processInfo()
    expect(info).toMatchObject({ pid: process.pid, version: pkg.version, nodeVersion: process.versions.node })
    expect(Number(info.startedAtMs)).toBeLessThanOrEqual(Date.now())
    expect(Number(info.rssBytes)).toBeGreaterThan(1024 * 1024)
  })
})
