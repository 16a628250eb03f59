/**
 * Finding and calling the local node: `--api`, else PHASE_API, else the address the node
 * itself would use (the SDK's `localNode`: PHASE_CONFIG, /etc/phase/plasmd.json, defaults).
 */
import { PhaseClient, localNode, type PhaseClientInit } from '@phase-network/sdk'
import { accessSync, constants, readFileSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { CliError, UsageError } from './usage.ts'
import { EXIT } from './exit.ts'

/** The global options that say where the node is. */
export interface NodeOptions {
  api?: string
  token?: string
  /** A file holding the token (first line): unlike --token, it never shows in `ps`. */
  tokenFile?: string
}

/** The token in a file named on the command line or in PHASE_API_TOKEN_FILE (its first line, trimmed). */
function readTokenFile (path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read the token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.NO_INPUT)
  }
  const token = text.split('\n', 1)[0]!.trim()
  if (token === '') throw new CliError(`the token file ${path} is empty`, EXIT.NO_INPUT)
  return token
}

/** Where the node is and the token to use, resolved as the node itself would. */
export function resolveNode (options: NodeOptions, env: Readonly<Record<string, string | undefined>>): { address: string, token: string | undefined } {
  let address = options.api ?? env.PHASE_API
  const tokenFile = options.tokenFile ?? (options.token === undefined ? env.PHASE_API_TOKEN_FILE : undefined)
  let token = options.token ?? (options.tokenFile !== undefined ? readTokenFile(options.tokenFile) : undefined) ??
    env.PHASE_API_TOKEN ?? (tokenFile !== undefined && tokenFile !== '' ? readTokenFile(tokenFile) : undefined)
  if (address === undefined) {
    const node = localNode({ env })
    address = node.address
    token ??= node.token
  }
  if (address.startsWith('unix:')) checkSocket(address.slice('unix:'.length))
  return { address, token }
}

/**
 * Says plainly why a unix socket cannot be used, instead of a bare "unavailable": nothing there
 * (the node is not running) or no permission (not root, not in the node's group).
 */
function checkSocket (path: string): void {
  let gid: number
  try {
    gid = statSync(path).gid
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES') throw noPermission(path, statSafe(dirname(path)))
    if (code === 'ENOENT') throw new CliError(`no node is listening on ${path} (is it running? 'systemctl status plasmd', or 'npm start' in a checkout)`, EXIT.UNAVAILABLE)
    return
  }
  try {
    accessSync(path, constants.R_OK | constants.W_OK)
  } catch {
    throw noPermission(path, gid)
  }
}

function statSafe (path: string): number | undefined {
  try { return statSync(path).gid } catch { return undefined }
}

function noPermission (path: string, gid: number | undefined): CliError {
  let group = 'phase'
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(gid))
    if (line !== undefined) group = line.split(':')[0]!
  } catch {}
  return new CliError(`permission denied on ${path}: run as root, or join the '${group}' group ('sudo usermod -aG ${group} $USER', then log in again)`, EXIT.NO_PERM)
}

/** The SDK client for the node. */
export function connect (options: NodeOptions, env: Readonly<Record<string, string | undefined>>, init: Omit<PhaseClientInit, 'address' | 'token'> = {}): PhaseClient {
  const node = resolveNode(options, env)
  return usable(node.address, () => new PhaseClient({ ...node, ...init }))
}

/**
 * grpc-js parses the address when the client is made and throws a bare Error on one it cannot
 * use (e.g. a 3,000-character host name): that is a usage error (64), not an internal one (70).
 */
function usable<T> (address: string, make: () => T): T {
  try {
    return make()
  } catch (err) {
    throw new UsageError(`cannot use '${address.slice(0, 60)}${address.length > 60 ? '…' : ''}' as the node address (${(err as Error).message.slice(0, 80)}); use unix:/path or host:port`)
  }
}
