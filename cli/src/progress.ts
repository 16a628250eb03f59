/**
 * `phase run`'s progress line on stderr — only when stderr is a terminal (never in a pipe, a
 * file or a log): what is being sent (module and input bytes), then, while the node holds the
 * job, how many jobs it runs and queues (GetNodeStatus, once a second), then the receipt check;
 * elapsed time throughout. One line, redrawn in place, erased when the answer is in, so the
 * job's own output is never mixed with it.
 */
import type { PhaseClient, SubmitProgress } from '@phase-network/sdk'

export interface Progress {
  update: (event: SubmitProgress) => void
  stop: () => void
}

export interface ProgressComponents {
  /** Asked for the node's queue while the job is away. */
  client: Pick<PhaseClient, 'nodeStatus'>
}

/** How often the line is redrawn. */
const REDRAW_MS = 200
/** How often the node's queue is asked for while the job is away. */
const STATUS_EVERY_MS = 1000
/** Erase the line: carriage return + EL2 (the whole line). */
const ERASE = '\r\x1b[2K'

export function startProgress (stream: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean, columns?: number }, components: ProgressComponents): Progress {
  if (stream.isTTY !== true) return { update: () => {}, stop: () => {} }
  const started = Date.now()
  let stage: SubmitProgress | undefined
  let queue: { running: number, queued: number } | undefined
  let asking = false
  let lastAsked = 0
  let shown = false
  let stopped = false
  const draw = (): void => {
    if (stage === undefined) return
    const elapsed = `${((Date.now() - started) / 1000).toFixed(1)} s`
    let text: string
    if (stage.stage === 'checking') text = 'asking the node which bytes it lacks'
    else if (stage.stage === 'verifying') text = 'verifying the receipt'
    else {
      const sent = stage.bytes !== undefined && stage.bytes > 0 ? `sent ${size(stage.bytes)}; ` : ''
      text = `${sent}waiting for the node` + (queue === undefined ? '' : ` (it runs ${queue.running} jobs, ${queue.queued} queued)`)
    }
    const line = `phase: ${text}, ${elapsed}`
    // One terminal row at most: a wrapped line would not be erased by ERASE.
    // (A terminal that reports no size, as a bare pseudo-terminal, counts as 80 columns.)
    const width = (stream.columns !== undefined && stream.columns > 0 ? stream.columns : 80) - 1
    stream.write(ERASE + (line.length > width ? line.slice(0, Math.max(0, width - 1)) + '…' : line))
    shown = true
  }
  const ask = (): void => {
    if (stage?.stage !== 'sending' || asking || Date.now() - lastAsked < STATUS_EVERY_MS) return
    asking = true
    lastAsked = Date.now()
    components.client.nodeStatus({ timeoutMs: STATUS_EVERY_MS }).then(
      (s) => { queue = { running: s.jobsInFlight, queued: s.queueDepth }; if (!stopped) draw() },
      () => {} // a node too busy to answer: the line just lacks the counts
    ).finally(() => { asking = false })
  }
  const timer = setInterval(() => { ask(); draw() }, REDRAW_MS)
  timer.unref()
  return {
    // The node's queue is asked for as soon as the job is away, then once a second.
    update: (event) => { stage = event; ask(); draw() },
    stop: () => {
      stopped = true
      clearInterval(timer)
      if (shown) stream.write(ERASE)
    }
  }
}

function size (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
