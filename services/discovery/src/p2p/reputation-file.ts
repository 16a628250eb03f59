/**
 * Reputation on disk, so a restart does not hand a lying peer a clean slate: one JSON file under
 * the node's state dir, written atomically (temp file, fsync, rename, fsync of the folder) with
 * mode 0600, at most MAX_REPUTATION_FILE_BYTES. A file that is too large, not JSON, or of another
 * version is ignored (logged): reputation starts over rather than the node not starting. Each
 * entry is checked (PeerId text, finite counts ≥ 0) and a bad one left out.
 */
import { open, rename, unlink, mkdir, readFile, stat } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Logger } from '@phase-network/process'
import { evidenceOf, type ReputationEntry } from './reputation.ts'

/** Largest reputation file written or read, bytes (1024 peers take ~250 KiB). */
export const MAX_REPUTATION_FILE_BYTES = 512 * 1024
/** The file's name under the state dir. */
export const REPUTATION_FILE = 'reputation.json'
const FORMAT_VERSION = 1
/** Random bytes in a temp file's name (no two writers pick the same). */
const TMP_NAME_BYTES = 6
/** Longest PeerId text accepted (an Ed25519 PeerId is 52 characters, RSA ones are longer). */
const MAX_PEER_ID_CHARS = 128
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]+$/
const COUNTS = ['verified', 'receiptsRefused', 'disagreements', 'failures', 'refusals', 'successes', 'failed', 'at'] as const

interface FileDoc { version: number, peers: Record<string, ReputationEntry> }

export class ReputationFile {
  private readonly path: string
  private readonly log: Logger
  private readonly maxBytes: number

  constructor (components: { logger: Logger }, init: { path: string, maxBytes?: number }) {
    this.path = init.path
    this.log = components.logger
    this.maxBytes = init.maxBytes ?? MAX_REPUTATION_FILE_BYTES
  }

  /** The entries on disk; none when there is no file or it cannot be used. */
  async load (): Promise<Record<string, ReputationEntry>> {
    try {
      const size = (await stat(this.path)).size
      if (size > this.maxBytes) {
        this.log.warn({ path: this.path, bytes: size, maxBytes: this.maxBytes }, 'reputation file too large: ignored')
        return {}
      }
      const doc = JSON.parse(await readFile(this.path, 'utf8')) as Partial<FileDoc>
      if (doc?.version !== FORMAT_VERSION || typeof doc.peers !== 'object' || doc.peers === null) throw new Error(`not a reputation file of version ${FORMAT_VERSION}`)
      const out: Record<string, ReputationEntry> = {}
      for (const [peer, e] of Object.entries(doc.peers)) if (validPeer(peer) && validEntry(e)) out[peer] = e
      return out
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ path: this.path, err: (err as Error).message }, 'reputation file unreadable: ignored')
      return {}
    }
  }

  /**
   * Writes `entries` atomically. Entries beyond the byte cap are left out, the least evidenced
   * first (they are the cheapest to learn again).
   */
  async save (entries: Record<string, ReputationEntry>): Promise<void> {
    const list = Object.entries(entries).sort((a, b) => evidenceOf(b[1]) - evidenceOf(a[1]))
    let bytes = encode(list)
    while (bytes.byteLength > this.maxBytes && list.length > 0) {
      // Cut in proportion, at least one: a few passes at most.
      list.length = Math.min(list.length - 1, Math.floor(list.length * this.maxBytes / bytes.byteLength))
      bytes = encode(list)
    }
    await writeAtomic(this.path, bytes)
  }
}

const encode = (list: Array<[string, ReputationEntry]>): Uint8Array => new TextEncoder().encode(JSON.stringify({ version: FORMAT_VERSION, peers: Object.fromEntries(list) } satisfies FileDoc))

function validPeer (peer: string): boolean {
  return peer.length <= MAX_PEER_ID_CHARS && PEER_ID.test(peer)
}

function validEntry (e: unknown): e is ReputationEntry {
  if (typeof e !== 'object' || e === null) return false
  const r = e as Record<string, unknown>
  if (!COUNTS.every((k) => typeof r[k] === 'number' && Number.isFinite(r[k]) && (r[k] as number) >= 0)) return false
  return r.latencyMs === null || (typeof r.latencyMs === 'number' && Number.isFinite(r.latencyMs) && r.latencyMs >= 0)
}

/** temp file (0600) + fsync + rename over the old one + fsync of the folder; nothing left behind on error. */
async function writeAtomic (path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${randomBytes(TMP_NAME_BYTES).toString('hex')}.tmp`)
  const file = await open(tmp, 'wx', 0o600)
  try {
    await file.writeFile(data)
    await file.sync()
    await file.close()
    await rename(tmp, path)
  } catch (err) {
    await file.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw err
  }
  const handle = await open(dir, 'r')
  try { await handle.sync() } finally { await handle.close() }
}
