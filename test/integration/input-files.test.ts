/**
 * Input files by hash on a real node: sent once (with a job over gRPC or JSON, or uploaded raw
 * with PUT /v1/blobs/<hash>), cached, then named by hash alone; every cap (per file, per job,
 * the upload's) refused with its typed error before anything is cached; a missing file named
 * by its hash; bytes that do not match, or that no input names, refused.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { NodeService } from '../../services/core/rpc/src/gen/phase/node/v1/node_pb.js'
import { createGrpcClient, type GrpcClient } from '../../services/core/rpc/src/index.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { inputsHashOf, type Manifest } from '../../services/core/protocol/src/documents/manifest.ts'
import { startTestNode, type TestNode } from '../helpers/node-harness.ts'
import { compileWat } from '../helpers/wat.ts'

const enc = new TextEncoder()
const KiB = 1024
const MAX_FILE = 64 * KiB
const MAX_JOB = 96 * KiB
const MODULE = await compileWat('(module (memory (export "memory") 1) (func (export "_start")))')
const MODULE_HASH = contentHash(MODULE)

function manifest (inputs: Array<{ path: string, hash: string }>): Manifest {
  return { version: 1, module_hash: MODULE_HASH, nonce: randomBytes(16).toString('hex'), inputs }
}

describe('input files', () => {
  let node: TestNode
  let client: GrpcClient<typeof NodeService>
  beforeAll(async () => {
    node = await startTestNode({ executors: 1, config: { limits: { max_input_file_bytes: MAX_FILE, max_input_bytes: MAX_JOB } } })
    client = createGrpcClient(NodeService, node.grpc)
    // The module is cached once; every job below sends only its hash.
    await client.submitJob({ manifestJson: enc.encode(JSON.stringify(manifest([]))), module: MODULE }, { timeoutMs: 60_000 })
  }, 120_000)
  afterAll(async () => {
    client?.close()
    await node?.stop()
  })

  async function submit (m: Manifest, inputs: Array<{ hash: string, data: Uint8Array }> = []): Promise<{ status: string, receipt?: Record<string, unknown> }> {
    try {
      const res = await client.submitJob({ manifestJson: enc.encode(JSON.stringify(m)), inputs }, { timeoutMs: 60_000 })
      return { status: res.status, receipt: JSON.parse(new TextDecoder().decode(res.receiptJson)) }
    } catch (err) {
      return { status: `error:${(err as { code: string }).code}:${(err as Error).message}` }
    }
  }

  const inputDir = (): string => join(node.dir, 'state', 'inputs')

  it('caches a file sent with a job and runs the next job that names it by hash alone', async () => {
    const data = randomBytes(10 * KiB)
    const hash = contentHash(data)
    expect((await client.hasInputs({ hashes: [hash] })).missing).toEqual([hash])
    const first = manifest([{ path: '/in/data.bin', hash }])
    const r1 = await submit(first, [{ hash, data }])
    expect(r1.status).toBe('ok')
    // The receipt's inputs hash covers the input files.
    expect(r1.receipt!.inputs_hash).toBe(inputsHashOf(first))
    expect(r1.receipt!.inputs_hash).not.toBe(inputsHashOf({ ...first, inputs: [] }))
    expect((await client.hasInputs({ hashes: [hash] })).missing).toEqual([])
    expect(await readdir(inputDir())).toContain(`${hash.slice('sha256:'.length)}.bin`)
    expect((await submit(manifest([{ path: '/in/again.bin', hash }]))).status).toBe('ok')
  })

  it('refuses a job naming a file it neither sends nor caches, naming its hash', async () => {
    const hash = contentHash(randomBytes(100))
    const r = await submit(manifest([{ path: '/in/x', hash }]))
    expect(r.status).toMatch(/^error:input_not_cached:/)
    expect(r.status).toContain(hash)
  })

  it('refuses a file over max_input_file_bytes before caching it', async () => {
    const data = randomBytes(MAX_FILE + 1)
    const hash = contentHash(data)
    expect((await submit(manifest([{ path: '/in/big', hash }]), [{ hash, data }])).status).toMatch(/^error:input_too_large:/)
    expect((await client.hasInputs({ hashes: [hash] })).missing).toEqual([hash])
  })

  it('refuses a job whose files together are over max_input_bytes', async () => {
    const a = randomBytes(50 * KiB)
    const b = randomBytes(50 * KiB)
    const m = manifest([{ path: '/in/a', hash: contentHash(a) }, { path: '/in/b', hash: contentHash(b) }])
    expect((await submit(m, [{ hash: contentHash(a), data: a }, { hash: contentHash(b), data: b }])).status).toMatch(/^error:input_too_large:/)
    // Counted per path: one cached file at two paths is held twice by the executor.
    const c = randomBytes(50 * KiB)
    expect((await submit(manifest([{ path: '/in/c', hash: contentHash(c) }]), [{ hash: contentHash(c), data: c }])).status).toBe('ok')
    expect((await submit(manifest([{ path: '/in/c1', hash: contentHash(c) }, { path: '/in/c2', hash: contentHash(c) }]))).status).toMatch(/^error:input_too_large:/)
  })

  it('refuses bytes that do not match their hash, and bytes no input names', async () => {
    const data = randomBytes(1000)
    const other = contentHash(randomBytes(1000))
    expect((await submit(manifest([{ path: '/in/x', hash: other }]), [{ hash: other, data }])).status).toMatch(/^error:hash_mismatch:/)
    const named = randomBytes(10)
    expect((await submit(manifest([{ path: '/in/x', hash: contentHash(named) }]), [{ hash: contentHash(named), data: named }, { hash: contentHash(data), data }])).status).toMatch(/^error:invalid_argument:/)
    expect((await client.hasInputs({ hashes: [contentHash(data), other] })).missing).toEqual([contentHash(data), other])
  })

  it('refuses HasInputs with more hashes than a manifest may name', async () => {
    const hashes = Array.from({ length: 257 }, () => contentHash(randomBytes(8)))
    await expect(client.hasInputs({ hashes })).rejects.toMatchObject({ code: 'invalid_argument' })
    await expect(client.hasInputs({ hashes: ['sha256:00'] })).rejects.toMatchObject({ code: 'invalid_argument' })
  })

  describe('over HTTP', () => {
    const url = (path: string): string => `http://${node.http}${path}`

    it('uploads a file raw, then runs a JSON job that names it by hash', async () => {
      const data = randomBytes(20 * KiB)
      const hash = contentHash(data)
      expect(await (await fetch(url(`/v1/blobs/${hash}`))).json()).toEqual({ hash, cached: false })
      const put = await fetch(url(`/v1/blobs/${hash}`), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: data })
      expect(put.status).toBe(200)
      expect(await put.json()).toEqual({ hash, bytes: data.byteLength, cached: true })
      expect(await (await fetch(url(`/v1/blobs/${hash}`))).json()).toEqual({ hash, cached: true })
      const res = await fetch(url('/v1/jobs'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ manifest: manifest([{ path: '/in/up.bin', hash }]) }) })
      expect(res.status).toBe(200)
      expect((await res.json() as { status: string }).status).toBe('ok')
    })

    it('names a hash whose colon is percent-encoded (PHP rawurlencode) in GET /v1/blobs and /v1/modules', async () => {
      const encoded = MODULE_HASH.replace(':', '%3A')
      expect(await (await fetch(url(`/v1/modules/${encoded}`))).json()).toEqual({ module_hash: MODULE_HASH, cached: true })
      const hash = contentHash(randomBytes(32))
      expect(await (await fetch(url(`/v1/blobs/${hash.replace(':', '%3a')}`))).json()).toEqual({ hash, cached: false })
    })

    it('takes a file as base64 in the job JSON', async () => {
      const data = randomBytes(3 * KiB)
      const hash = contentHash(data)
      const body = JSON.stringify({ manifest: manifest([{ path: '/in/b64', hash }]), inputs: [{ hash, data: data.toString('base64') }] })
      const res = await fetch(url('/v1/jobs'), { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      const json = await res.json() as { status: string, outputs: unknown[] }
      expect(res.status).toBe(200)
      expect(json.status).toBe('ok')
      expect(json.outputs).toEqual([])
    })

    it('answers 409 input_not_cached naming the missing hash', async () => {
      const hash = contentHash(randomBytes(64))
      const res = await fetch(url('/v1/jobs'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ manifest: manifest([{ path: '/in/m', hash }]) }) })
      expect(res.status).toBe(409)
      const { error } = await res.json() as { error: { code: string, message: string } }
      expect(error.code).toBe('input_not_cached')
      expect(error.message).toContain(hash)
    })

    it('refuses an upload over max_input_file_bytes with 413 and caches nothing', async () => {
      const data = randomBytes(MAX_FILE + 1)
      const hash = contentHash(data)
      const res = await fetch(url(`/v1/blobs/${hash}`), { method: 'PUT', body: data })
      expect(res.status).toBe(413)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('input_too_large')
      expect(await (await fetch(url(`/v1/blobs/${hash}`))).json()).toEqual({ hash, cached: false })
    })

    it('refuses an upload whose bytes do not hash to its path with 422', async () => {
      const data = randomBytes(100)
      const hash = contentHash(randomBytes(100))
      const res = await fetch(url(`/v1/blobs/${hash}`), { method: 'PUT', body: data })
      expect(res.status).toBe(422)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('hash_mismatch')
      expect(await (await fetch(url(`/v1/blobs/${contentHash(data)}`))).json()).toEqual({ hash: contentHash(data), cached: false })
    })

    it('refuses malformed inputs in the job JSON with 400', async () => {
      const m = manifest([])
      for (const inputs of ['x', [{ hash: 'sha256:00', data: '' }], [{ hash: MODULE_HASH, data: '!!' }], [{ hash: MODULE_HASH, data: '', more: 1 }]]) {
        const res = await fetch(url('/v1/jobs'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ manifest: m, inputs }) })
        expect(res.status).toBe(400)
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_argument')
      }
    })
  })
})
