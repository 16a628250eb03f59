/**
 * `plasmd config check | show | get KEY`, `plasmd scale [N]` and `plasmd cache fill`: the
 * node's own configuration, executors and compile caches, beside the daemon that owns them (the
 * `phase` CLI is a client of the node's API through the SDK alone). Usage errors exit 64, a bad configuration 78.
 */
import { configCommand } from './config.ts'
import { scaleCommand } from './scale.ts'
import { cacheCommand } from './cache.ts'
import { UsageError } from '../../cli/src/usage.ts'
import { printable } from '../../cli/src/terminal.ts'
import { EXIT } from '../../cli/src/exit.ts'

export const ADMIN_HELP = `Usage:
  plasmd                                   run the node in the foreground (pm2-runtime: signer, executors, discovery)
  plasmd prepare [--unit]                  as root: the privilege split (and with --unit the unit's limits)
  plasmd config check [--config F] [-q]    validate the node's configuration (exit 78 naming the bad key)
  plasmd config show [--config F]          the effective configuration (file + PHASE_* env + defaults), JSON
  plasmd config get KEY [--config F]       one effective value, e.g. runtime_dir or api.http.port
  plasmd scale [N] [--no-wait] [--config F] run N executor processes (default: 'executors' from the config)
                                           without restarting the signer or discovery; as the node's user
                                           (packaged node: edit /etc/phase/plasmd.json, 'systemctl reload plasmd')
  plasmd cache fill [--config F]           compile every process's code into its compile cache without starting
                                           (the package's install and 'npm install' run it: the first start is then
                                           as fast as a restart)
`

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (argv.includes('--help') || argv.includes('-h') || command === 'help') {
    process.stdout.write(ADMIN_HELP)
    return EXIT.OK
  }
  switch (command) {
    case 'config': return await configCommand(rest, process.env)
    case 'scale': return await scaleCommand(rest, process.env)
    case 'cache': return await cacheCommand(rest, process.env)
    default: throw new UsageError(`unknown command '${String(command).slice(0, 40)}'`)
  }
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`plasmd: ${printable(err.message)}\nTry 'plasmd --help'.\n`)
    process.exitCode = EXIT.USAGE
  } else if (typeof err === 'object' && err !== null && 'exitCode' in err) {
    process.stderr.write(`plasmd: ${printable((err as unknown as Error).message)}\n`)
    process.exitCode = (err as { exitCode: number }).exitCode
  } else {
    process.stderr.write(`plasmd: unexpected error: ${printable((err as Error)?.message ?? String(err))}\n`)
    process.exitCode = EXIT.SOFTWARE
  }
}
