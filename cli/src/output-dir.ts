/**
 * `phase verify --outputs DIR`: the files in DIR checked against a verified receipt's `outputs`.
 * DIR mirrors the guest's /out (`/out/a/b.txt` ↔ `DIR/a/b.txt`, as `phase run --output-dir`
 * writes it). Every regular file under DIR must be one the receipt lists, with its size and
 * sha256; a listed file absent from DIR fails too. Files are hashed streaming from disk, and only
 * when the receipt lists them at that size, so a large stray file costs a stat, not a read.
 * Symbolic links and other non-files are refused, never followed (they could point anywhere).
 */
import { lstat, open, readdir } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { verifyOutputs, VerificationError, type OutputFileEvidence, type Receipt } from '@phase-network/sdk'
import { EXIT } from './exit.ts'
import { CliError } from './usage.ts'

/**
 * Most directory entries walked under DIR. A receipt lists at most 256 files; the bound only
 * keeps a wrong DIR (a home folder, say) from being walked for ever.
 */
export const MAX_DIR_ENTRIES = 65_536

/** Checks DIR against the receipt; returns the check's description, or throws VerificationError('outputs'). */
export async function verifyOutputDir (receipt: Receipt, dir: string): Promise<string> {
  const root = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read --outputs ${dir}: ${err.code ?? err.message}`, EXIT.NO_INPUT)
  })
  if (!root.isDirectory()) throw new CliError(`--outputs ${dir} is not a directory`, EXIT.NO_INPUT)
  const listed = new Map((receipt.outputs ?? []).map(o => [o.path, o]))
  const found: OutputFileEvidence[] = []
  for (const { path, file, bytes } of await walk(dir)) {
    const expected = listed.get(path)
    // Hashed only when it can match; otherwise the size (or the path) already fails.
    const hash = expected !== undefined && expected.bytes === bytes ? await hashFile(file) : undefined
    found.push({ path, bytes, hash })
  }
  try {
    return `${verifyOutputs(receipt, found)} in ${dir}`
  } catch (err) {
    if (err instanceof VerificationError) throw new VerificationError('outputs', `${err.message} (in --outputs ${dir})`)
    throw err
  }
}

interface Found { path: string, file: string, bytes: number }

/** Regular files under `dir`, by guest path (/out/<rel>), in sorted order. */
async function walk (dir: string): Promise<Found[]> {
  const out: Found[] = []
  let entries = 0
  const visit = async (folder: string, rel: string): Promise<void> => {
    let names: string[]
    try {
      names = (await readdir(folder)).sort()
    } catch (err) {
      throw new CliError(`cannot read --outputs folder ${folder}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.NO_INPUT)
    }
    for (const name of names) {
      if (++entries > MAX_DIR_ENTRIES) {
        throw new VerificationError('outputs', `--outputs ${dir} holds more than ${MAX_DIR_ENTRIES} entries; a receipt lists at most 256 files`)
      }
      const file = join(folder, name)
      const guest = `${rel}/${name}`
      const stat = await lstat(file)
      if (stat.isDirectory()) await visit(file, guest)
      else if (stat.isFile()) out.push({ path: guest, file, bytes: stat.size })
      else throw new VerificationError('outputs', `${file} is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; a job's outputs are plain files`)
    }
  }
  await visit(dir, '/out')
  return out
}

/** One buffer, reused for every read: hashing a large file costs no more memory than a small one. */
const chunk = new Uint8Array(1 << 20)

async function hashFile (file: string): Promise<string> {
  const hash = createHash('sha256')
  try {
    const handle = await open(file, 'r')
    try {
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength)
        if (bytesRead === 0) break
        hash.update(chunk.subarray(0, bytesRead))
      }
    } finally {
      await handle.close()
    }
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.NO_INPUT)
  }
  return `sha256:${hash.digest('hex')}`
}
