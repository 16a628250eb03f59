/**
 * The `outputs` check of the core verifier: the files received (a list, a map, or digests a
 * caller computed streaming) must be exactly the receipt's `outputs` — sizes and hashes, none
 * missing, none extra — checked last, after stdout and stderr, in every TS verifier.
 */
import { describe, it, expect } from '@jest/globals'
import { runInNewContext } from 'node:vm'
import { contentHash } from '../../services/core/protocol/src/hash.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { CHECK_ORDER, outputDigests, verifyOutputs, verifyReceipt, verifyReceiptSync } from '../../services/core/protocol/src/crypto/index.ts'
import { contentHash as nodeContentHash } from '../../services/core/protocol/src/hash-node.ts'
import { verifyReceiptNode } from '../../services/core/protocol/src/crypto/verify-node.ts'
import { verify as sdkVerify, verifyOutputs as sdkVerifyOutputs } from '../../sdk/ts/src/index.ts'
import { unsignedReceipt } from './receipt-fixture.ts'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const signer = createReceiptSigner(new Uint8Array(32).fill(11))
const FILES = new Map([['/out/a.txt', utf8('alpha')], ['/out/b/c.bin', new Uint8Array([0, 1, 2])], ['/out/z', new Uint8Array()]])
const STDOUT = utf8('done\n')
const { receipt, canonical } = signer.sign(unsignedReceipt(signer.publicKey, {
  stdout_hash: contentHash(STDOUT),
  stdout_bytes: STDOUT.byteLength,
  outputs: [...FILES].map(([path, data]) => ({ path, hash: contentHash(data), bytes: data.byteLength }))
}))
const none = signer.sign(unsignedReceipt(signer.publicKey, { job_id: `sha256:${'7'.repeat(64)}` }))
const list = (files: Map<string, Uint8Array>) => [...files].map(([path, data]) => ({ path, data }))

function outputsFailure (fn: () => unknown): { check: string, message: string } {
  try { fn() } catch (err) { return err as { check: string, message: string } }
  throw new Error('expected the outputs check to fail')
}

describe('verifyOutputs', () => {
  it('passes when exactly the listed files arrive, as a list, a map or digests', () => {
    expect(verifyOutputs(receipt, list(FILES))).toBe('outputs (3 files, 8 bytes)')
    expect(verifyOutputs(receipt, FILES)).toBe('outputs (3 files, 8 bytes)')
    expect(verifyOutputs(receipt, [...FILES].map(([path, data]) => ({ path, bytes: data.byteLength, hash: contentHash(data) })))).toBe('outputs (3 files, 8 bytes)')
    expect(verifyOutputs(none.receipt, [])).toBe('outputs (0 files, 0 bytes)')
    expect(sdkVerifyOutputs).toBe(verifyOutputs)
  })

  it.each([
    ['a missing file', new Map([...FILES].filter(([p]) => p !== '/out/b/c.bin')), 'the receipt lists "/out/b/c.bin" (3 bytes), which was not received'],
    ['an extra file', new Map([...FILES, ['/out/y', utf8('')]]), 'the file "/out/y" was received but is not in the receipt\'s outputs'],
    ['a file under another name', new Map([...FILES].map(([p, d]) => [p === '/out/z' ? '/out/Z' : p, d])), 'the receipt lists "/out/z" (0 bytes), which was not received'],
    ['other bytes of the same size', new Map([...FILES, ['/out/a.txt', utf8('alphA')]]), 'the bytes received for "/out/a.txt" do not match the receipt\'s hash'],
    ['a longer file', new Map([...FILES, ['/out/z', utf8('!')]]), 'received 1 bytes of "/out/z", the receipt says 0']
  ])('fails at outputs for %s', (_what, files, message) => {
    const err = outputsFailure(() => verifyOutputs(receipt, files))
    expect(err).toMatchObject({ code: 'verification_failed', check: 'outputs' })
    expect(err.message).toBe(message)
  })

  it('gives the same verdicts on digests made by outputDigests with node:crypto', () => {
    const digests = outputDigests(FILES, nodeContentHash)
    expect(digests).toEqual([...FILES].map(([path, data]) => ({ path, bytes: data.byteLength, hash: contentHash(data) })))
    expect(verifyOutputs(receipt, digests)).toBe('outputs (3 files, 8 bytes)')
    const changed = outputDigests(new Map([...FILES, ['/out/a.txt', utf8('alphA')]]), nodeContentHash)
    expect(outputsFailure(() => verifyOutputs(receipt, changed)).message).toBe('the bytes received for "/out/a.txt" do not match the receipt\'s hash')
  })

  it('takes a map from another realm as a map, and refuses file data that is not bytes', () => {
    const foreign = runInNewContext('new Map()') as Map<string, Uint8Array>
    for (const [path, data] of FILES) foreign.set(path, data)
    expect(foreign instanceof Map).toBe(false)
    expect(verifyOutputs(receipt, foreign)).toBe('outputs (3 files, 8 bytes)')
    const asText = [...list(FILES).filter(f => f.path !== '/out/a.txt'), { path: '/out/a.txt', data: 'alpha' as unknown as Uint8Array }]
    expect(outputsFailure(() => verifyOutputs(receipt, asText))).toMatchObject({ check: 'outputs', message: 'the bytes of "/out/a.txt" must be given as a Uint8Array' })
  })

  it('fails at outputs for a file received twice, or a file the receipt of a job without outputs does not list', () => {
    expect(outputsFailure(() => verifyOutputs(receipt, [...list(FILES), { path: '/out/a.txt', data: utf8('alpha') }])).message).toBe('the file "/out/a.txt" was received twice')
    expect(outputsFailure(() => verifyOutputs(none.receipt, [{ path: '/out/a.txt', data: utf8('x') }]))).toMatchObject({ check: 'outputs' })
  })
})

describe('receipt verifiers with expect.outputs.files', () => {
  const verifiers = {
    'verifyReceipt': async (e: Parameters<typeof verifyReceipt>[1]) => await verifyReceipt(canonical, e),
    'verifyReceiptSync': async (e: Parameters<typeof verifyReceipt>[1]) => verifyReceiptSync(canonical, e),
    'verifyReceiptNode': async (e: Parameters<typeof verifyReceipt>[1]) => verifyReceiptNode(canonical, e),
    'SDK verify': async (e: Parameters<typeof verifyReceipt>[1]) => await sdkVerify(canonical, { expectedKey: e.publicKey, outputs: e.outputs })
  }

  it('puts outputs last in the check order', () => {
    expect(CHECK_ORDER.at(-1)).toBe('outputs')
    expect(CHECK_ORDER.indexOf('outputs')).toBe(CHECK_ORDER.indexOf('stderr_hash') + 1)
  })

  for (const [name, verify] of Object.entries(verifiers)) {
    it(`${name} checks the files last, after stdout, and leaves them unchecked when none are given`, async () => {
      const { checks } = await verify({ publicKey: signer.publicKey, outputs: { stdout: STDOUT, files: FILES } })
      expect(checks.slice(-2)).toEqual(['stdout hash (5 bytes)', 'outputs (3 files, 8 bytes)'])
      expect((await verify({ publicKey: signer.publicKey, outputs: { stdout: STDOUT } })).checks.at(-1)).toBe('stdout hash (5 bytes)')
      await expect(verify({ publicKey: signer.publicKey, outputs: { stdout: utf8('dune\n'), files: new Map() } })).rejects.toMatchObject({ check: 'stdout_hash' })
      await expect(verify({ publicKey: signer.publicKey, outputs: { stdout: STDOUT, files: new Map() } })).rejects.toMatchObject({ check: 'outputs' })
    })
  }
})
