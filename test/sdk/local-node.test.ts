/**
 * The SDK's `localNode` (how `phase` finds the node beside it without loading the node's code)
 * gives the same address, token and state folder as the node's own configuration loader, for
 * every way those can be set: defaults (as a user and as root), the file, PHASE_* overrides.
 */
import { describe, it, expect, afterAll } from '@jest/globals'
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { localNode } from '../../sdk/ts/src/index.ts'
import { loadConfig } from '../../services/core/process/src/config.ts'

const dir = mkdtempSync(join(tmpdir(), 'phase-local-node-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function file (name: string, doc: unknown, mode = 0o600): string {
  const path = join(dir, name)
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc))
  chmodSync(path, mode)
  return path
}

const tokenFile = file('token', 'a-token-of-at-least-16-chars\n')
const HOME = join(dir, 'home')
const CASES: Array<[string, Record<string, string>, number]> = [
  ['no file, as a user', { HOME, PHASE_CONFIG: join(dir, 'absent-ok') }, 1000],
  ['no file, as root', { HOME, PHASE_CONFIG: join(dir, 'absent-ok') }, 0],
  ['XDG_STATE_HOME, as root', { HOME, XDG_STATE_HOME: join(dir, 'xdg') }, 0],
  ['state_dir in the file', { HOME, PHASE_CONFIG: file('state.json', { state_dir: join(dir, 's') }) }, 0],
  ['runtime_dir in the file', { HOME, PHASE_CONFIG: file('run.json', { runtime_dir: join(dir, 'r') }) }, 1000],
  ['api.grpc and a token file in the file', { HOME, PHASE_CONFIG: file('api.json', { api: { grpc: '127.0.0.1:7777', token_file: tokenFile } }) }, 1000],
  ['a token in the file', { HOME, PHASE_CONFIG: file('tok.json', { api: { token: 'another-token-16-chars' } }) }, 1000],
  ['PHASE_STATE_DIR over the file', { HOME, PHASE_CONFIG: file('s2.json', { state_dir: join(dir, 's') }), PHASE_STATE_DIR: join(dir, 'env-state') }, 0],
  ['PHASE_RUNTIME_DIR', { HOME, PHASE_RUNTIME_DIR: join(dir, 'env-run') }, 1000],
  ['PHASE_API_GRPC and PHASE_API_TOKEN over the file', { HOME, PHASE_CONFIG: file('api2.json', { api: { grpc: '127.0.0.1:7777', token_file: tokenFile } }), PHASE_API_GRPC: '127.0.0.1:8888', PHASE_API_TOKEN: 'env-token-16-chars-long' }, 1000],
  ['PHASE_API_TOKEN_FILE over the file\'s token', { HOME, PHASE_CONFIG: file('tok2.json', { api: { token: 'another-token-16-chars' } }), PHASE_API_TOKEN_FILE: tokenFile }, 1000]
]

describe('localNode', () => {
  it.each(CASES)('answers as the node\'s loader when %s', (_name, env, uid) => {
    const e = env.PHASE_CONFIG?.endsWith('absent-ok') === true ? { ...env, PHASE_CONFIG: undefined } : env
    const node = loadConfig({ env: e, uid })
    const local = localNode({ env: e, uid, file: undefined })
    expect(local).toEqual({ address: node.api.grpc, token: node.api.token ?? undefined, stateDir: node.stateDir, source: node.source })
  })

  it('throws invalid_config when the named file cannot be read', () => {
    expect(() => localNode({ env: { HOME, PHASE_CONFIG: join(dir, 'missing.json') } })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })
})
