/** Small statistics helpers for the benchmarks: percentiles over a sample of durations. */
export function percentile (samples: number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export function median (samples: number[]): number {
  return percentile(samples, 50)
}

/** Times `fn` `n` times in sequence after `warmup` untimed runs; returns milliseconds per run. */
export async function timeSeq (n: number, warmup: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn()
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn()
    out.push(performance.now() - t)
  }
  return out
}

/**
 * Times several calls against each other: after `warmup` untimed runs of each, `rounds` rounds
 * (at least; see below) of n/rounds sequential runs of each in turn. A ratio between two of them
 * then compares like with like on a shared machine, whose speed drifts over a run: measured one
 * after the other, a floor and the node 30 s apart differed by more than the node's own excess.
 * Returns milliseconds per run, by name.
 */
export async function timeInterleaved<K extends string> (n: number, warmup: number, fns: Record<K, () => Promise<unknown>>, rounds = 10): Promise<Record<K, number[]>> {
  const names = Object.keys(fns) as K[]
  const out = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>
  for (const k of names) for (let i = 0; i < warmup; i++) await fns[k]()
  // Every call leads a round equally often, and follows each other one forwards and backwards
  // (rounds a multiple of twice the calls' number; the order rotates and reverses).
  const k2 = 2 * names.length
  rounds = Math.ceil(rounds / k2) * k2
  const per = Math.ceil(n / rounds)
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < names.length; j++) {
      const at = Math.floor(r / names.length) % 2 === 0 ? r + j : r - j
      const k = names[((at % names.length) + names.length) % names.length]!
      out[k].push(...await timeSeq(per, 0, fns[k]))
    }
  }
  return out
}

export interface Row {
  metric: string
  value: string
  floor: string
  ratio: string
  target: string
}

export function printTable (rows: Row[]): void {
  const cols: Array<keyof Row> = ['metric', 'value', 'floor', 'ratio', 'target']
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)))
  const line = (r: Record<string, string>): string => cols.map((c, i) => r[c]!.padEnd(width[i]!)).join('  ')
  process.stdout.write(line({ metric: 'metric', value: 'value', floor: 'floor (same run)', ratio: 'ratio', target: 'target' }) + '\n')
  process.stdout.write(width.map((w) => '-'.repeat(w)).join('  ') + '\n')
  for (const r of rows) process.stdout.write(line(r as unknown as Record<string, string>) + '\n')
}

export const fmtMs = (ms: number): string => ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`
