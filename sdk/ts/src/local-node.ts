/**
 * Where the node on this machine listens, resolved as the node resolves it — so `phase` and
 * other local clients need no address when they run beside a node (as psql finds its server's
 * socket). Only what a client needs is read: the file (PHASE_CONFIG, else
 * /etc/phase/plasmd.json if present), its `state_dir`, `runtime_dir` and `api.grpc` / `token` /
 * `token_file`, their PHASE_* overrides and the node's defaults. The file is not validated here:
 * that is the node's job (`plasmd config check`); `test/sdk/local-node.test.ts` holds these
 * answers equal to the node's own loader. Node.js only.
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidConfigError } from '@phase-network/protocol'

/** The node's configuration file when neither an explicit file nor PHASE_CONFIG names one. */
export const DEFAULT_NODE_CONFIG = '/etc/phase/plasmd.json'

export interface LocalNodeOptions {
  /** The environment to read (PHASE_CONFIG, PHASE_STATE_DIR, ...). Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>
  /** The node's config file. Default: PHASE_CONFIG, else /etc/phase/plasmd.json if present. */
  file?: string
  /** The user the node runs as. Default: this process's. */
  uid?: number
}

export interface LocalNode {
  /** gRPC address of the node's public API (`unix:/path` or `host:port`). */
  address: string
  /** The API token, when the node's configuration sets one this user can read. */
  token: string | undefined
  /** The node's state folder (keys, module cache, receipt log). */
  stateDir: string
  /** The config file read, or null (embedded defaults). */
  source: string | null
}

type Raw = Record<string, unknown>

/** The local node's address, token and state folder. Throws InvalidConfigError on an unreadable file. */
export function localNode (options: LocalNodeOptions = {}): LocalNode {
  const env = options.env ?? process.env
  const explicit = options.file ?? env.PHASE_CONFIG
  const path = explicit ?? DEFAULT_NODE_CONFIG
  let raw: Raw = {}
  let source: string | null = null
  try {
    const doc: unknown = JSON.parse(readFileSync(path, 'utf8'))
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) raw = doc as Raw
    source = resolve(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || explicit !== undefined) {
      throw new InvalidConfigError(`cannot read config ${path}: ${(err as Error).message}`)
    }
  }
  const api = (typeof raw.api === 'object' && raw.api !== null ? raw.api : {}) as Raw
  const str = (v: unknown): string | undefined => typeof v === 'string' && v !== '' ? v : undefined
  const set = (name: string): string | undefined => str(env[name])
  const stateDirRaw = set('PHASE_STATE_DIR') ?? str(raw.state_dir)
  const stateHome = env.XDG_STATE_HOME ?? join(env.HOME ?? homedir(), '.local', 'state')
  const stateDir = resolve(stateDirRaw ?? join(stateHome, 'phase'))
  const uid = options.uid ?? process.getuid?.()
  // As the node: root's default runtime folder is under /run, one per state folder.
  const runtimeDefault = uid === 0 && stateDirRaw === undefined && env.XDG_STATE_HOME === undefined
    ? join('/run', `phase-${createHash('sha256').update(stateDir).digest('hex').slice(0, 8)}`)
    : join(stateDir, 'run')
  const runtimeDir = resolve(set('PHASE_RUNTIME_DIR') ?? str(raw.runtime_dir) ?? runtimeDefault)
  const address = set('PHASE_API_GRPC') ?? str(api.grpc) ?? `unix:${join(runtimeDir, 'plasmd.sock')}`
  // The environment's token source replaces the file's, as in the node.
  const envFile = set('PHASE_API_TOKEN_FILE')
  const token = set('PHASE_API_TOKEN') ??
    (envFile !== undefined ? readToken(envFile) : str(api.token) ?? (str(api.token_file) === undefined ? undefined : readToken(str(api.token_file)!)))
  return { address, token, stateDir, source }
}

/** A token file's first line; unreadable (not this node's user) means no token, not an error. */
function readToken (path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').split('\n', 1)[0]!.trim() || undefined
  } catch {
    return undefined
  }
}
