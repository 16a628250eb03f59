/**
 * Per-peer reputation from what this node verified itself, never from what peers say of each
 * other: receipts that passed or failed its checks, replica runs where a peer was in the
 * minority, failures (unavailable, deadline), typed refusals, and the round trip of its jobs.
 * Peer choice for remote jobs orders peers by score (best first).
 *
 * Score = reliability × speed, in [0, 1]:
 *   reliability = (PRIOR_GOOD + good) / (PRIOR_GOOD + PRIOR_BAD + good + bad)
 *     good = receipts verified; bad = the weighted sum of the other evidence (WEIGHTS)
 *   speed = LATENCY_SCALE_MS / (LATENCY_SCALE_MS + smoothed round trip), 1 while unknown
 * The prior is optimistic: a peer never tried scores PRIOR_GOOD / (PRIOR_GOOD + PRIOR_BAD)
 * (2/3), above any peer caught lying or failing repeatedly, below peers proven good. So that
 * proven peers do not starve new ones of the evidence they need, EXPLORE_SHARE of choices put
 * one unproven peer (evidence under EXPLORE_EVIDENCE) first. The share bounds what a swarm of
 * fresh PeerIds (free to make) can take: one job in ten, each watched by the same checks.
 *
 * Evidence decays with a half-life (HALF_LIFE_MS): a peer that lied a week ago has paid, one that
 * was slow once is tried again when its evidence falls under EXPLORE_EVIDENCE. The round trip is a
 * moving average, replaced by new samples rather than decayed.
 *
 * Bounded: at most `maxPeers` peers; beyond that the peer with the least evidence goes (so fresh
 * PeerIds evict each other, never the peers this node has learnt most about).
 */

/** Time for a piece of evidence to lose half its weight, ms: a day. */
export const HALF_LIFE_MS = 24 * 60 * 60 * 1000
/** Prior successes every peer starts with (the optimistic prior). */
export const PRIOR_GOOD = 2
/** Prior failures every peer starts with. */
export const PRIOR_BAD = 1
/** Weight of each kind of bad evidence against one verified receipt. */
export const WEIGHTS = {
  /** A receipt that failed verification (bad signature, wrong key, output not what it signed, a lying message). */
  receiptRefused: 10,
  /** In the minority of a replicated job: validly signed, but not what the others computed. */
  disagreement: 10,
  /** Unavailable, broke off, or missed its deadline. */
  failure: 2,
  /** A typed refusal (queue full, over its caps): honest, but no use to this job. */
  refusal: 0.5
} as const
/** Round trip at which speed is one half, ms. */
export const LATENCY_SCALE_MS = 1000
/** Weight of the newest round trip in the smoothed one (exponential moving average). */
export const LATENCY_WEIGHT = 0.2
/** Share of choices that put an unproven peer first. */
export const EXPLORE_SHARE = 0.1
/** Evidence (good + weighted bad, decayed) under which a peer is unproven. */
export const EXPLORE_EVIDENCE = 3
/** Peers whose reputation is kept. */
export const DEFAULT_MAX_REPUTATION_PEERS = 1024

/** What a remote job taught this node of a peer. */
export type Evidence = 'verified' | 'receipt_refused' | 'disagreement' | 'failure' | 'refusal'

/** One peer's standing, decayed to now. */
export interface PeerReputation {
  score: number
  receiptsVerified: number
  receiptsRefused: number
  disagreements: number
  failures: number
  refusals: number
  /** Smoothed job round trip, ms; null until a job came back. */
  latencyMs: number | null
  /** Remote jobs that came back verified, and that did not, all time (not decayed). */
  successes: number
  failed: number
}

/** What is kept of a peer (and written to disk): the counts as of `at`. */
export interface ReputationEntry {
  verified: number
  receiptsRefused: number
  disagreements: number
  failures: number
  refusals: number
  latencyMs: number | null
  successes: number
  failed: number
  /** When the counts were last decayed, ms since the epoch. */
  at: number
}

export interface ReputationInit {
  /** Peers kept. Default: DEFAULT_MAX_REPUTATION_PEERS (1024). */
  maxPeers?: number
  /** Half-life of evidence, ms. Default: HALF_LIFE_MS (24 h). */
  halfLifeMs?: number
  /** Share of choices that explore an unproven peer. Default: EXPLORE_SHARE (0.1). */
  exploreShare?: number
  /** The clock, ms since the epoch. Default: Date.now. */
  now?: () => number
  /** Uniform in [0, 1). Default: Math.random. */
  random?: () => number
}

const KEY_OF: Record<Exclude<Evidence, 'verified'>, 'receiptsRefused' | 'disagreements' | 'failures' | 'refusals'> = {
  receipt_refused: 'receiptsRefused', disagreement: 'disagreements', failure: 'failures', refusal: 'refusals'
}

export class Reputation {
  private readonly entries = new Map<string, ReputationEntry>()
  private readonly maxPeers: number
  private readonly halfLifeMs: number
  private readonly exploreShare: number
  private readonly now: () => number
  private readonly random: () => number
  /** Changed since the last snapshot (nothing to write otherwise). */
  dirty = false

  constructor (init: ReputationInit = {}) {
    this.maxPeers = init.maxPeers ?? DEFAULT_MAX_REPUTATION_PEERS
    this.halfLifeMs = init.halfLifeMs ?? HALF_LIFE_MS
    this.exploreShare = init.exploreShare ?? EXPLORE_SHARE
    this.now = init.now ?? Date.now
    this.random = init.random ?? Math.random
  }

  get size (): number { return this.entries.size }

  /** One piece of evidence about `peer`; `latencyMs` when the job's round trip is known. */
  record (peer: string, evidence: Evidence, latencyMs?: number): void {
    const e = this.decayed(peer) ?? { verified: 0, receiptsRefused: 0, disagreements: 0, failures: 0, refusals: 0, latencyMs: null, successes: 0, failed: 0, at: this.now() }
    if (evidence === 'verified') {
      e.verified++
      e.successes++
    } else {
      e[KEY_OF[evidence]]++
      // A disagreement is found after its receipt was counted verified: it does not fail the job twice.
      if (evidence !== 'disagreement') e.failed++
    }
    if (latencyMs !== undefined && Number.isFinite(latencyMs) && latencyMs >= 0) e.latencyMs = e.latencyMs === null ? latencyMs : e.latencyMs * (1 - LATENCY_WEIGHT) + latencyMs * LATENCY_WEIGHT
    this.entries.set(peer, e)
    this.dirty = true
    if (this.entries.size > this.maxPeers) this.evict(peer)
  }

  /** The peer's standing now (a peer never seen has the prior's). */
  get (peer: string): PeerReputation {
    const e = this.decayed(peer)
    if (e === undefined) return { score: scoreOf(undefined), receiptsVerified: 0, receiptsRefused: 0, disagreements: 0, failures: 0, refusals: 0, latencyMs: null, successes: 0, failed: 0 }
    return { score: scoreOf(e), receiptsVerified: e.verified, receiptsRefused: e.receiptsRefused, disagreements: e.disagreements, failures: e.failures, refusals: e.refusals, latencyMs: e.latencyMs, successes: e.successes, failed: e.failed }
  }

  /**
   * `peers` best first. In EXPLORE_SHARE of calls the unproven peer with the least evidence
   * (if any, and not first already) is moved to the front.
   */
  rank (peers: readonly string[]): string[] {
    const scored = peers.map((p, i) => ({ p, i, e: this.decayed(p) }))
    scored.sort((a, b) => (scoreOf(b.e) - scoreOf(a.e)) || a.i - b.i)
    const out = scored.map((s) => s.p)
    if (out.length > 1 && this.random() < this.exploreShare) {
      const unproven = scored.filter((s) => evidenceOf(s.e) < EXPLORE_EVIDENCE).sort((a, b) => evidenceOf(a.e) - evidenceOf(b.e))[0]
      if (unproven !== undefined && unproven.p !== out[0]) out.splice(0, 0, ...out.splice(out.indexOf(unproven.p), 1))
    }
    return out
  }

  /** Every entry decayed to now, for writing to disk. */
  snapshot (): Record<string, ReputationEntry> {
    const out: Record<string, ReputationEntry> = {}
    for (const peer of [...this.entries.keys()]) out[peer] = { ...this.decayed(peer)! }
    this.dirty = false
    return out
  }

  /** Entries read back from disk (already checked), up to maxPeers, the most evidenced first. */
  restore (entries: Record<string, ReputationEntry>): void {
    const list = Object.entries(entries).sort((a, b) => evidenceOf(b[1]) - evidenceOf(a[1])).slice(0, this.maxPeers)
    for (const [peer, e] of list) this.entries.set(peer, { ...e })
  }

  /** The entry with its counts decayed from its `at` to now (kept so). */
  private decayed (peer: string): ReputationEntry | undefined {
    const e = this.entries.get(peer)
    if (e === undefined) return undefined
    const now = this.now()
    if (now > e.at) {
      const f = 0.5 ** ((now - e.at) / this.halfLifeMs)
      e.verified *= f
      e.receiptsRefused *= f
      e.disagreements *= f
      e.failures *= f
      e.refusals *= f
      e.at = now
    }
    return e
  }

  /** Drops the peer with the least evidence, other than the one just recorded. */
  private evict (keep: string): void {
    let victim: string | undefined
    let least = Infinity
    for (const [peer, e] of this.entries) {
      if (peer === keep) continue
      const ev = evidenceOf(e)
      if (ev < least) { least = ev; victim = peer }
    }
    if (victim !== undefined) this.entries.delete(victim)
  }
}

function badOf (e: ReputationEntry): number {
  return WEIGHTS.receiptRefused * e.receiptsRefused + WEIGHTS.disagreement * e.disagreements + WEIGHTS.failure * e.failures + WEIGHTS.refusal * e.refusals
}

/** Good plus weighted bad evidence: how much this node knows of the peer. */
export function evidenceOf (e: ReputationEntry | undefined): number {
  return e === undefined ? 0 : e.verified + badOf(e)
}

/** reliability × speed (see the file's comment). */
export function scoreOf (e: ReputationEntry | undefined): number {
  const good = e?.verified ?? 0
  const bad = e === undefined ? 0 : badOf(e)
  const reliability = (PRIOR_GOOD + good) / (PRIOR_GOOD + PRIOR_BAD + good + bad)
  const latency = e?.latencyMs ?? null
  return reliability * (latency === null ? 1 : LATENCY_SCALE_MS / (LATENCY_SCALE_MS + latency))
}
