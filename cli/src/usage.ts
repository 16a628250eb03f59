/** Command-line parsing shared by the commands: node:util parseArgs plus typed errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { readFile } from 'node:fs/promises'
import { EXIT } from './exit.ts'

export class UsageError extends Error {
  constructor (message: string) { super(message); this.name = 'UsageError' }
}

/** An error that carries the CLI exit code. */
export class CliError extends Error {
  readonly exitCode: number
  constructor (message: string, exitCode: number) { super(message); this.exitCode = exitCode }
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: T): { values: Record<string, string | boolean | string[] | undefined>, positionals: string[], rest: string[] } {
  const dash = args.indexOf('--')
  const head = dash === -1 ? args : args.slice(0, dash)
  const rest = dash === -1 ? [] : args.slice(dash + 1)
  try {
    const { values, positionals } = parseArgs({ args: head, options, allowPositionals: true, strict: true })
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals, rest }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

export function intOption (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^[0-9]{1,12}$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer`)
  return Number(value)
}

export async function readInput (path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.NO_INPUT)
  }
}
