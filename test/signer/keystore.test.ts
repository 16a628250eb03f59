/**
 * The receipt key on disk: created once with mode 0600, loaded afterwards, never replaced
 * silently, and nothing left behind when it cannot be written.
 */
import { describe, it, expect, beforeEach, afterEach } from '@jest/globals'
import { mkdtemp, rm, stat, writeFile, readFile, chmod, readdir, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateKey } from '../../services/signer/src/index.ts'
import { createReceiptSigner } from '../../services/core/protocol/src/crypto/sign.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

describe('receipt key store', () => {
  let dir: string
  const logger = silentLogger()
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'phase-key-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates a key with mode 0600 on first start and loads the same key afterwards', async () => {
    const path = join(dir, 'state', 'receipt-key.json')
    const first = await loadOrCreateKey(path, { logger })
    expect(first.created).toBe(true)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const second = await loadOrCreateKey(path, { logger })
    expect(second.created).toBe(false)
    expect(second.publicKey).toBe(first.publicKey)
    expect(createReceiptSigner(second.seed).publicKey).toBe(first.publicKey)
    expect(await readdir(join(dir, 'state'))).toEqual(['receipt-key.json'])
  })

  it('refuses a corrupt key instead of replacing it', async () => {
    const path = join(dir, 'receipt-key.json')
    await writeFile(path, '{"algorithm":"ed25519","private_key":"zz"}', { mode: 0o600 })
    await expect(loadOrCreateKey(path, { logger })).rejects.toThrow(/malformed; refusing to replace/)
    expect(await readFile(path, 'utf8')).toContain('"zz"')
  })

  it('refuses a key readable by others', async () => {
    const path = join(dir, 'receipt-key.json')
    await loadOrCreateKey(path, { logger })
    await chmod(path, 0o644)
    await expect(loadOrCreateKey(path, { logger })).rejects.toThrow(/chmod 600/)
  })

  it('fails cleanly and leaves no partial file when the folder cannot be written', async () => {
    const ro = join(dir, 'ro')
    await mkdir(ro, { mode: 0o500 })
    // root ignores directory permissions; a path under a regular file fails for everyone.
    await writeFile(join(dir, 'file'), 'x')
    await expect(loadOrCreateKey(join(dir, 'file', 'receipt-key.json'), { logger })).rejects.toThrow(/cannot (create|read) receipt key/)
    expect(await readdir(dir)).toEqual(['file', 'ro'])
  })
})
