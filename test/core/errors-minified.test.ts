/**
 * Error classes keep their names in a minified bundle (the SDK's browser build, any bundler a
 * user runs): names are written in the classes, never taken from `constructor.name`.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as source from '../../services/core/protocol/src/errors.ts'
import { PhaseError, VerificationError } from '../../services/core/protocol/src/errors.ts'

const root = new URL('../..', import.meta.url).pathname
type Module = Record<string, unknown>
const isErrorClass = (v: unknown, base: unknown): v is new (...args: any[]) => PhaseError =>
  typeof v === 'function' && (v === base || (v as { prototype: unknown }).prototype instanceof (base as new () => object))
const make = (Class: new (...args: any[]) => PhaseError, name: string): PhaseError =>
  name === 'VerificationError' ? new Class('signature', 'm') : name === 'PhaseError' ? new Class('internal', 'm') : new Class('m')

describe('errors in a minified bundle', () => {
  let dir: string
  let bundled: Module

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phase-minify-'))
    const out = join(dir, 'errors.min.mjs')
    await promisify(execFile)(join(root, 'node_modules/.bin/esbuild'), [join(root, 'services/core/protocol/src/errors.ts'), '--bundle', '--minify', '--format=esm', '--platform=neutral', `--outfile=${out}`])
    bundled = await import(out) as Module
  })

  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('renames the classes (else this test proves nothing)', () => {
    const renamed = Object.entries(bundled).filter(([name, v]) => isErrorClass(v, bundled.PhaseError) && (v as { name: string }).name !== name)
    expect(renamed.length).toBeGreaterThan(10)
  })

  it('keeps every class\'s name and code when bundled', () => {
    const classes = Object.entries(source).filter(([, v]) => isErrorClass(v, PhaseError))
    expect(classes.length).toBeGreaterThan(25)
    for (const [name, Class] of classes as Array<[string, new (...args: any[]) => PhaseError]>) {
      const Min = bundled[name] as new (...args: any[]) => PhaseError
      const [a, b] = [make(Class, name), make(Min, name)]
      expect({ name: b.name, code: b.code, message: b.message }).toEqual({ name, code: a.code, message: 'm' })
      expect(b.name).toBe(a.name)
      expect(String(b)).toBe(`${name}: m`)
    }
    expect(make(bundled.VerificationError as typeof VerificationError, 'VerificationError')).toMatchObject({ check: 'signature' })
  })

  it('rebuilds an error of its own class from a gRPC code when bundled', () => {
    const fromGrpcError = bundled.fromGrpcError as typeof source.fromGrpcError
    const metadata = { get: (key: string) => key === 'phase-error-code' ? ['hash_mismatch'] : [] }
    expect(fromGrpcError({ code: 3, details: 'x', metadata })).toMatchObject({ name: 'HashMismatchError', code: 'hash_mismatch' })
  })
})
