/**
 * The signer as discovery sees it: a client of the signer process, and the replay guard loaded
 * from the signer's receipt log so a restart does not run (and try to sign) a job id again.
 * While the signer is down at start, the log is loaded in the background; meanwhile the signer
 * itself still refuses a second receipt for a logged job id.
 */
import type { NodeConfig, Logger } from '@phase-network/process'
import { internalAddresses } from '@phase-network/process'
import { SignerClient } from '../signer-client.ts'
import { ReplayGuard, loadSignedJobIds } from '../replay-guard.ts'
import { partOf, type Part } from './parts.ts'

/** Job ids remembered against replay (the newest first; the signer's log backs older ones). */
export const REPLAY_WINDOW = 100_000
/** How long start-up waits for the signer's list of signed job ids before going on without it. */
export const REPLAY_LOAD_MS = 5000
/** How often the list is asked for again while the signer does not give it. */
export const REPLAY_RETRY_MS = 2000

export interface SignerComponents {
  logger: Logger
}

export type SignerConfig = Pick<NodeConfig, 'runtimeDir' | 'executors'>

export interface SignerPart extends Part {
  signer: SignerClient
  replays: ReplayGuard
}

/** Connects to the signer and loads the replay guard (or keeps trying in the background). */
export async function startSigner (components: SignerComponents, config: SignerConfig): Promise<SignerPart> {
  const signer = new SignerClient(internalAddresses(config).signer)
  const replays = new ReplayGuard(REPLAY_WINDOW)
  const stopRestoring = await restoreReplays(components, replays, signer)
  return { signer, replays, ...partOf(() => { stopRestoring(); signer.close() }) }
}

/** Loads the signer's job ids into `guard`, retrying in the background; returns what stops the retries. */
async function restoreReplays (components: SignerComponents, guard: ReplayGuard, signer: SignerClient): Promise<() => void> {
  const log = components.logger
  const attempt = async (): Promise<void> => {
    const n = await loadSignedJobIds(guard, signer, { signal: AbortSignal.timeout(REPLAY_LOAD_MS) })
    log.info({ jobIds: n }, 'replay guard loaded from the receipt log')
  }
  try {
    await attempt()
    return () => {}
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot load signed job ids from the signer yet; retrying')
    const retry = setInterval(() => { attempt().then(() => clearInterval(retry), () => {}) }, REPLAY_RETRY_MS)
    retry.unref()
    return () => clearInterval(retry)
  }
}
