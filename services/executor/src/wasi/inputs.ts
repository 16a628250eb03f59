/**
 * The executor's own check of a job's input files before they reach a worker (the manifest
 * schema checks them at the edge; the executor trusts no caller): at most MAX_INPUT_FILES, each
 * path `/in/<rel>` with segments [A-Za-z0-9._-]+ (no `.`/`..`), at most 255 chars, no path
 * twice, no file that is another's folder. Wrong → InvalidArgumentError, never a worker crash.
 */
import { InvalidArgumentError } from '@phase-network/protocol/errors'

/** Input files a job may have (the manifest's cap). */
export const MAX_INPUT_FILES = 256
/**
 * A path segment under /in or /out: the characters the manifest's input paths and the receipt's
 * output paths allow (schemas/manifest.schema.json, schemas/receipt.schema.json).
 */
export const PATH_SEGMENT = '[A-Za-z0-9._-]+'
const INPUT_PATH = new RegExp(`^/in(/(?!\\.\\.?(/|$))${PATH_SEGMENT})+$`)

export function checkInputFiles (inputs: ReadonlyArray<{ path: string }>): void {
  if (inputs.length > MAX_INPUT_FILES) throw new InvalidArgumentError(`a job has at most ${MAX_INPUT_FILES} input files, got ${inputs.length}`)
  const files = new Set<string>()
  for (const { path } of inputs) {
    if (path.length > 255 || !INPUT_PATH.test(path)) throw new InvalidArgumentError('input path must be /in/<segments of [A-Za-z0-9._-]>, at most 255 chars')
    if (files.has(path)) throw new InvalidArgumentError(`input path ${path} given twice`)
    files.add(path)
  }
  for (const path of files) {
    for (let i = path.indexOf('/', 4); i !== -1; i = path.indexOf('/', i + 1)) {
      if (files.has(path.slice(0, i))) throw new InvalidArgumentError(`input path ${path.slice(0, i)} is a file and a folder`)
    }
  }
}
