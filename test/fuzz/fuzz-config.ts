/**
 * How much the fuzz tests run: `FUZZ_RUNS` inputs in total across the suite (default 5,000 per
 * CI run; `npm run fuzz` sets 100,000), spread over the properties by their `base` share, with
 * one deterministic seed (`FUZZ_SEED`, printed in the table) so any failure replays.
 */
export const DEFAULT_TOTAL = 5000
export const TOTAL = Number(process.env.FUZZ_RUNS ?? DEFAULT_TOTAL)
export const SEED = Number(process.env.FUZZ_SEED ?? 20261130)
const SCALE = TOTAL / DEFAULT_TOTAL

/** Runs of one property whose share of a 5,000-input CI run is `base`; `cap` bounds slow ones (processes). */
export function runs (base: number, cap = Infinity): number {
  return Math.max(1, Math.min(cap, Math.round(base * SCALE)))
}

/** fast-check parameters: the suite's seed, `runs(base)` inputs, no shrinking past a few seconds. */
export function params (base: number, cap = Infinity): { seed: number, numRuns: number, endOnFailure: boolean } {
  return { seed: SEED, numRuns: runs(base, cap), endOnFailure: false }
}

/** A test's time budget, scaled with the number of inputs (a 100,000-input run needs 20× the CI budget). */
export function budget (ms: number): number {
  return Math.round(ms * Math.max(1, SCALE))
}
