/**
 * A steady load of real jobs for the fault tests: `concurrency` loops, each submitting the hello
 * module (hash only) with a fresh nonce through the TypeScript SDK and verifying every receipt
 * against the node's pinned key. Every submission ends as a verified result or a typed error;
 * anything else (an untyped error, a result that does not verify, wrong output) is counted as
 * lost or false, which the tests require to be 0.
 */
import { PhaseClient, manifest } from '../../sdk/ts/src/index.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { contentHash } from '../../services/core/protocol/src/hash-node.ts'
import { waitFor } from '../helpers/wait-for.ts'

export interface Outcome {
  start: number
  end: number
  ok: boolean
  /** Error code for a typed error; 'untyped' or 'false result' otherwise. */
  code?: string
}

export class SteadyLoad {
  readonly outcomes: Outcome[] = []
  private running = false
  private loops: Array<Promise<void>> = []
  /** Start time of each loop's submission in flight (undefined between submissions). */
  private readonly inFlight: Array<number | undefined> = []
  private readonly client: PhaseClient
  private readonly hash: string
  private readonly key: string
  private readonly concurrency: number

  constructor (address: string, key: string, module: Uint8Array, concurrency = 4, timeoutMs = 10_000) {
    this.client = new PhaseClient({ address, timeoutMs })
    this.hash = contentHash(module)
    this.key = key
    this.concurrency = concurrency
  }

  start (): void {
    this.running = true
    this.loops = Array.from({ length: this.concurrency }, async (_, i) => { await this.loop(i) })
  }

  async stop (): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
    this.client.close()
  }

  private async loop (worker: number): Promise<void> {
    let n = 0
    while (this.running) {
      const word = `w${worker}n${n++}`
      const start = Date.now()
      this.inFlight[worker] = start
      try {
        const r = await this.client.submit(manifest(this.hash).args(word), undefined, { expectedKey: this.key })
        const out = new TextDecoder().decode(r.stdout)
        // A result must be verified against the pinned key and be the real output of the job.
        const real = r.verification.verified && r.status === 'ok' && out === `${[...word].reverse().join('')}\n` && r.receipt.status === 'ok'
        this.outcomes.push({ start, end: Date.now(), ok: real, ...(real ? {} : { code: 'false result' }) })
      } catch (err) {
        this.outcomes.push({ start, end: Date.now(), ok: false, code: isPhaseError(err) ? (err.code === 'verification_failed' ? 'false result' : err.code) : 'untyped' })
        // Back off a little instead of spinning on a node that is down.
        await new Promise((resolve) => setTimeout(resolve, 25))
      } finally {
        this.inFlight[worker] = undefined
      }
    }
  }

  /** Waits until every submission started before `t` has an outcome (the client's timeout bounds each). */
  async settled (t: number): Promise<void> {
    await waitFor(() => this.inFlight.every((start) => start === undefined || start >= t), { what: `every submission started before ${new Date(t).toISOString()} to end` })
  }

  /** Outcomes of submissions that started in [from, to). */
  between (from: number, to = Infinity): Outcome[] {
    return this.outcomes.filter((o) => o.start >= from && o.start < to)
  }

  /** Time from `t` until the first verified result of a submission started at or after `t`. */
  servedAgainAfter (t: number): number | undefined {
    const first = this.outcomes.filter((o) => o.ok && o.start >= t).sort((a, b) => a.end - b.end)[0]
    return first === undefined ? undefined : first.end - t
  }

  /** Waits until a submission started after `t` has been served (or `timeoutMs` passes). */
  async waitServedAfter (t: number, timeoutMs = 60_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const ms = this.servedAgainAfter(t)
      if (ms !== undefined) return ms
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return undefined
  }
}

/** Counts of outcomes: ok, typed errors by code, untyped, false results. */
export function summarize (outcomes: readonly Outcome[]): { ok: number, typed: Map<string, number>, untyped: number, falseResults: number } {
  const typed = new Map<string, number>()
  let ok = 0
  let untyped = 0
  let falseResults = 0
  for (const o of outcomes) {
    if (o.ok) ok++
    else if (o.code === 'untyped') untyped++
    else if (o.code === 'false result') falseResults++
    else typed.set(o.code!, (typed.get(o.code!) ?? 0) + 1)
  }
  return { ok, typed, untyped, falseResults }
}

export function typedText (typed: Map<string, number>): string {
  return typed.size === 0 ? 'none' : [...typed].map(([k, n]) => `${k} ${n}`).join(', ')
}
