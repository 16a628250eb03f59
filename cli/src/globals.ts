/**
 * Global options, accepted anywhere before `--` (`phase --api X node key` as well as
 * `phase node key --api X`): they are taken out of the arguments first, and the command
 * parses what is left. `--help` / `-h` anywhere asks for the usage of the command named.
 */
import { UsageError } from './usage.ts'

export interface GlobalOptions {
  api?: string
  token?: string
  /** A file holding the token (first line): unlike --token, it never shows in `ps`. */
  tokenFile?: string
  help: boolean
}

const VALUED = { '--api': 'api', '--token': 'token', '--token-file': 'tokenFile' } as const

/** Splits `argv` into the global options and the rest (the command, its arguments, `--` and after). */
export function takeGlobals (argv: readonly string[]): { globals: GlobalOptions, rest: string[] } {
  const globals: GlobalOptions = { help: false }
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') { rest.push(...argv.slice(i)); break }
    if (arg === '--help' || arg === '-h') { globals.help = true; continue }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (!Object.hasOwn(VALUED, name)) { rest.push(arg); continue }
    const key = VALUED[name as keyof typeof VALUED]
    let value: string | undefined
    if (eq !== -1) {
      value = arg.slice(eq + 1)
    } else {
      value = argv[i + 1]
      if (value === undefined || value === '--') throw new UsageError(`option '${name} <value>' argument missing`)
      i++
    }
    if (globals[key] !== undefined) throw new UsageError(`${name} given twice`)
    globals[key] = value
  }
  return { globals, rest }
}
