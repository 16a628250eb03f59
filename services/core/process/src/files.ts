/**
 * Writing secrets to disk: atomically (temp file + fsync + rename + fsync of the folder),
 * created with mode 0600 from the first byte, never replacing an existing file.
 */
import { open, rename, unlink, mkdir, stat } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'

/**
 * Creates `path` with `data` and mode 0600. Fails with EEXIST when the file exists (a key is
 * never silently replaced) and leaves nothing behind on any error (e.g. ENOSPC).
 */
export async function writeSecretFile (path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const file = await open(tmp, 'wx', 0o600)
  try {
    await file.writeFile(data)
    await file.sync()
  } catch (err) {
    await file.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw err
  }
  await file.close()
  try {
    // link-then-unlink would also refuse to replace, but rename is atomic; check right before.
    if (await exists(path)) throw Object.assign(new Error(`${path} already exists`), { code: 'EEXIST' })
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  const dirHandle = await open(dir, 'r')
  try { await dirHandle.sync() } finally { await dirHandle.close() }
}

async function exists (path: string): Promise<boolean> {
  try { await stat(path); return true } catch { return false }
}

/** Mode bits of a file that grant anything to group or others (a leaked secret). */
export async function looseMode (path: string): Promise<number> {
  return (await stat(path)).mode & 0o077
}
