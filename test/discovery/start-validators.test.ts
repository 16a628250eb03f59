/**
 * What the first job needs is prepared during the start (issue 11: start-up to the first job
 * served): the signer compiles the receipt schema (it checks every receipt before signing) and
 * discovery the manifest schema (it checks every job's manifest) before they serve. Compiled on
 * first use instead, loading ajv and compiling cost the first job ~200 ms (~110 in the signer,
 * ~90 in discovery) on an otherwise idle node. A real signer and discovery, in this process.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../services/core/process/src/config.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'
import { compiledSchemas } from '../../services/core/protocol/src/documents/validate.ts'
import { createSigner, type SignerNode } from '../../services/signer/src/index.ts'
import { createDiscovery, type Discovery } from '../../services/discovery/src/index.ts'

describe('start-up: the schemas of the first job', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phase-start-validators-'))
  const run = join(dir, 'run')
  let signer: SignerNode | undefined
  let discovery: Discovery | undefined

  beforeAll(() => {
    mkdirSync(join(run, 'executors'), { recursive: true, mode: 0o700 })
    mkdirSync(join(dir, 'state'), { recursive: true, mode: 0o700 })
  })
  afterAll(async () => {
    await discovery?.stop()
    await signer?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('are compiled by the signer (receipt) and discovery (manifest) before they serve', async () => {
    const file = join(dir, 'plasmd.json')
    writeFileSync(file, JSON.stringify({
      state_dir: join(dir, 'state'),
      runtime_dir: run,
      executors: 1,
      log_level: 'silent',
      api: { grpc: `unix:${join(run, 'api.sock')}`, http: { enabled: false } },
      p2p: { enabled: false }
    }), { mode: 0o600 })
    const config = loadConfig({ file, env: {} })
    expect(compiledSchemas()).not.toContain('receipt')
    signer = createSigner({ logger: silentLogger() }, { stateDir: config.stateDir, address: `unix:${join(run, 'signer.sock')}`, receiptLog: config.receiptLog })
    await signer.start()
    expect(compiledSchemas()).toContain('receipt')
    expect(compiledSchemas()).not.toContain('manifest')
    discovery = createDiscovery({ logger: silentLogger() }, config)
    await discovery.start()
    expect(compiledSchemas()).toContain('manifest')
  }, 60_000)
})
