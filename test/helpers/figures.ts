/**
 * Figures of the adversarial suite: a test records what it measured (a row of a section), and
 * the suite's reporter prints every row as one table after the run (`.ci/run`). One JSON line per
 * figure, appended to `$PHASE_FIGURES` (default: `<tmp>/phase-figures.jsonl`), so jest workers in
 * separate processes can all write.
 */
import { appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Figure {
  /** The suite section: 'bad input', 'hostile wasm', 'faults', 'load', 'crypto', 'supply chain', ... */
  section: string
  /** What was measured, e.g. 'HTTP fuzz inputs' or 'table bomb (5 × 10M funcref)'. */
  row: string
  /** The figure, e.g. 5000, '0 5xx', 'memory_limit'. */
  value: string | number
  /** Optional unit or verdict column, e.g. 'inputs', 'MiB', 'pass'. */
  unit?: string
}

export function figuresFile (): string {
  return process.env.PHASE_FIGURES ?? join(tmpdir(), 'phase-figures.jsonl')
}

/** Records one figure for the suite's table. */
export function figure (section: string, row: string, value: string | number, unit?: string): void {
  const line: Figure = { section, row, value, ...(unit !== undefined ? { unit } : {}) }
  appendFileSync(figuresFile(), JSON.stringify(line) + '\n')
}
