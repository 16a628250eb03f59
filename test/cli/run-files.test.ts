/**
 * `phase run --input LOCAL[:GUEST] --output-dir DIR`: how an --input value splits, where an
 * output file lands, and every path that would leave DIR refused before anything is written.
 */
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { localPath, parseInputOption, writeOutputFiles } from '../../cli/src/files.ts'

const enc = new TextEncoder()

describe('phase run --input', () => {
  it('takes the guest path after the last colon when it is under /in', () => {
    expect(parseInputOption('data.csv')).toEqual({ local: 'data.csv', guest: '/in/data.csv' })
    expect(parseInputOption('dir/data.csv:/in/x/y.csv')).toEqual({ local: 'dir/data.csv', guest: '/in/x/y.csv' })
    expect(parseInputOption('a:b.txt')).toEqual({ local: 'a:b.txt', guest: '/in/a:b.txt' })
    expect(parseInputOption('c:/in/d:/in/e')).toEqual({ local: 'c:/in/d', guest: '/in/e' })
  })
})

describe('phase run --output-dir', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-out-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('writes /out/a/b to DIR/a/b', async () => {
    const written = await writeOutputFiles(join(dir, 'new'), [{ path: '/out/a/b.txt', data: enc.encode('x') }, { path: '/out/c', data: enc.encode('') }])
    expect(written).toEqual([join(dir, 'new', 'a', 'b.txt'), join(dir, 'new', 'c')])
    expect(await readFile(join(dir, 'new', 'a', 'b.txt'), 'utf8')).toBe('x')
  })

  it('refuses paths that leave DIR or are not under /out', () => {
    for (const path of ['/out/../x', '/out/a/../../x', '/out/', '/out//x', '/in/x', '/x', '/out/.', '/out/a\\..\\..\\x']) {
      expect(() => localPath(dir, path)).toThrow(expect.objectContaining({ exitCode: 65 }))
    }
  })

  it('refuses to write through a link or a file in DIR', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'phase-elsewhere-'))
    try {
      await symlink(elsewhere, join(dir, 'sub'))
      await expect(writeOutputFiles(dir, [{ path: '/out/sub/x', data: enc.encode('x') }])).rejects.toMatchObject({ exitCode: 73 })
      await symlink(join(elsewhere, 'target'), join(dir, 'direct'))
      await expect(writeOutputFiles(dir, [{ path: '/out/direct', data: enc.encode('x') }])).rejects.toMatchObject({ exitCode: 73 })
      await writeFile(join(dir, 'file'), 'f')
      await expect(writeOutputFiles(dir, [{ path: '/out/file/x', data: enc.encode('x') }])).rejects.toMatchObject({ exitCode: 73 })
      expect(await readdir(elsewhere)).toEqual([])
    } finally {
      await rm(elsewhere, { recursive: true, force: true })
    }
  })
})
