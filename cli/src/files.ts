/**
 * `phase run --input LOCAL[:GUEST] --output-dir DIR`: local files in, the job's output files out.
 * An input appears to the guest at GUEST (an absolute path under /in), by default
 * `/in/<its file name>`. Output files (guest paths under /out, already checked against the
 * verified receipt by the SDK) are written under DIR at their path below /out; a path that
 * would leave DIR, or pass through a symbolic link or a file in DIR, is refused.
 */
import { lstat, mkdir, open } from 'node:fs/promises'
import { constants } from 'node:fs'
import { basename, join, resolve, sep } from 'node:path'
import { EXIT } from './exit.ts'
import { CliError, UsageError, readInput } from './usage.ts'

/** One `--input` value: LOCAL, or LOCAL:GUEST when what follows the last ':' is a path under /in. */
export function parseInputOption (value: string): { local: string, guest: string } {
  const at = value.lastIndexOf(':/in/')
  const local = at > 0 ? value.slice(0, at) : value
  const guest = at > 0 ? value.slice(at + 1) : `/in/${basename(local)}`
  if (local === '') throw new UsageError(`--input wants LOCAL[:GUEST], got '${value.slice(0, 80)}'`)
  return { local, guest }
}

/** Reads every `--input` file: guest path and bytes. */
export async function readInputFiles (values: readonly string[]): Promise<Array<{ path: string, data: Uint8Array }>> {
  const out: Array<{ path: string, data: Uint8Array }> = []
  for (const value of values) {
    const { local, guest } = parseInputOption(value)
    out.push({ path: guest, data: await readInput(local, 'input file') })
  }
  return out
}

/**
 * Writes output files under `dir` (created if missing), each at its path below /out. Returns
 * the local paths written, in order.
 */
export async function writeOutputFiles (dir: string, files: ReadonlyArray<{ path: string, data: Uint8Array }>): Promise<string[]> {
  const root = resolve(dir)
  await mkdir(root, { recursive: true }).catch((err: NodeJS.ErrnoException) => { throw cantCreate(root, err) })
  const written: string[] = []
  for (const file of files) {
    const target = localPath(root, file.path)
    await makeParents(root, target)
    let handle
    try {
      // O_NOFOLLOW: a symbolic link already at the target is not followed out of DIR.
      handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644)
      await handle.writeFile(file.data)
    } catch (err) {
      throw cantCreate(target, err as NodeJS.ErrnoException)
    } finally {
      await handle?.close()
    }
    written.push(target)
  }
  return written
}

/** The local path of guest path `/out/<rel>` under `root`; refused when it would leave root. */
export function localPath (root: string, guestPath: string): string {
  if (!guestPath.startsWith('/out/')) throw new CliError(`output file ${guestPath.slice(0, 200)} is not under /out: refused`, EXIT.DATA)
  const segments = guestPath.slice('/out/'.length).split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'))) {
    throw new CliError(`output file ${guestPath.slice(0, 200)} would leave the output folder: refused`, EXIT.DATA)
  }
  const target = resolve(root, ...segments)
  if (!target.startsWith(root + sep)) throw new CliError(`output file ${guestPath.slice(0, 200)} would leave the output folder: refused`, EXIT.DATA)
  return target
}

/** Creates the folders between root and target, refusing any that is a link or a file. */
async function makeParents (root: string, target: string): Promise<void> {
  const parts = target.slice(root.length + 1).split(sep).slice(0, -1)
  let at = root
  for (const part of parts) {
    at = join(at, part)
    const st = await lstat(at).catch(() => undefined)
    if (st === undefined) {
      await mkdir(at).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw cantCreate(at, err) })
      continue
    }
    if (!st.isDirectory()) throw new CliError(`cannot write under ${at}: it is not a folder (a link or a file): refused`, EXIT.CANT_CREATE)
  }
}

function cantCreate (path: string, err: NodeJS.ErrnoException): CliError {
  return new CliError(`cannot write ${path}: ${err.code ?? err.message}`, EXIT.CANT_CREATE)
}
