/**
 * The PHP SDK as Composer users get it: a fresh project requires phase/sdk from a path
 * repository (sdk/php, copied into vendor/, not linked; packagist disabled, so nothing leaves
 * the machine), and examples/local_test.php, copied into the project beside vendor/, runs
 * hello.wasm on a real node through Composer's autoloader and verifies the receipt. Composer is
 * required: CI installs it (apt-get install composer), and a missing Composer fails here.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestNode, ROOT, type TestNode } from '../helpers/node-harness.ts'
import { figure } from '../helpers/figures.ts'

interface Run { code: number | null, stdout: string, stderr: string, ms: number }

let work = ''
let app = ''
let node: TestNode | undefined

/** Runs a command in the project without blocking the event loop (the node's logs keep flowing). */
async function run (cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const start = performance.now()
  return await new Promise((resolve) => {
    execFile(cmd, args, {
      cwd: app,
      timeout: 300_000,
      env: { PATH: process.env.PATH ?? '', HOME: work, COMPOSER_HOME: join(work, 'composer-home'), COMPOSER_CACHE_DIR: join(work, 'composer-cache'), COMPOSER_ALLOW_SUPERUSER: '1', ...env }
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr, ms: performance.now() - start })
    })
  })
}

const show = (r: Run): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'phase-composer-'))
  app = join(work, 'app')
  mkdirSync(join(app, 'examples/hello'), { recursive: true })
  writeFileSync(join(app, 'composer.json'), JSON.stringify({
    name: 'fresh/app',
    type: 'project',
    repositories: [
      { type: 'path', url: join(ROOT, 'sdk/php'), options: { symlink: false, versions: { 'phase/sdk': '0.1.0' } } },
      { 'packagist.org': false }
    ],
    require: { 'phase/sdk': '0.1.0' }
  }, null, 2))
  copyFileSync(join(ROOT, 'examples/local_test.php'), join(app, 'examples/local_test.php'))
  copyFileSync(join(ROOT, 'examples/hello/hello.wasm'), join(app, 'examples/hello/hello.wasm'))
  node = await startTestNode({ executors: 1 })
})

afterAll(async () => {
  await node?.stop()
  if (work !== '') rmSync(work, { recursive: true, force: true })
})

describe('PHP SDK through Composer', () => {
  let install: Run

  beforeAll(async () => {
    install = await run('composer', ['install', '--no-interaction', '--no-progress'])
    figure('sdk packages', 'composer install of phase/sdk (path repository) in a fresh project', (install.ms / 1000).toFixed(1), 's')
  }, 300_000)

  it('has Composer, and sdk/php/composer.json passes composer validate --strict', async () => {
    const version = await run('composer', ['--version'])
    expect(version.code === 0 ? 'composer' : `composer is missing (CI: apt-get install composer)\n${show(version)}`).toBe('composer')
    const validate = await run('composer', ['validate', '--strict', join(ROOT, 'sdk/php/composer.json')])
    expect(show(validate)).toMatch(/^exit 0\n/)
  })

  it('installs phase/sdk into vendor/ as a copy, with Composer\'s autoloader', async () => {
    expect(show(install)).toMatch(/^exit 0\n/)
    expect(lstatSync(join(app, 'vendor/phase/sdk')).isSymbolicLink()).toBe(false)
    const where = await run('php', ['-r', 'require "vendor/autoload.php"; echo (new ReflectionClass(Phase\\Client::class))->getFileName();'])
    expect(show(where)).toBe(`exit 0\n${join(app, 'vendor/phase/sdk/src/Client.php')}\n`)
  })

  it('runs examples/local_test.php from the project against a real node and verifies the receipt', async () => {
    const r = await run('php', ['examples/local_test.php', 'Hello, Composer'], { PHASE_HTTP: `http://${node!.http}` })
    figure('sdk packages', 'examples/local_test.php through Composer (1 job, verified)', (r.ms / 1000).toFixed(1), 's')
    expect(show(r)).toMatch(/^exit 0\n/)
    expect(r.stdout).toContain('output     resopmoC ,olleH\n')
    expect(r.stdout).toContain('exit code  0 (ok)')
    expect(r.stdout).toContain('Receipt verified ✓')
  })
})
