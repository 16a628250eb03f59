/**
 * Prints the adversarial suite's table: every figure the tests recorded (`figure()` in
 * figures.ts, one JSON line each in `$PHASE_FIGURES`), grouped by section in the order.
 * Run by `.ci/run` after the tests (also when they fail) and by `npm run suite:table`.
 * Exit 0 even with no figures (it says so): the test run's own exit code is what CI keeps.
 */
import { existsSync, readFileSync } from 'node:fs'
import { figuresFile, type Figure } from './figures.ts'

/** Sections in the order of issue 10; others follow in the order first seen. */
const ORDER = ['bad input', 'hostile wasm', 'faults', 'load', 'peers', 'clients', 'crypto', 'supply chain']

export function readFigures (path = figuresFile()): Figure[] {
  if (!existsSync(path)) return []
  const out: Figure[] = []
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue
    try {
      const f = JSON.parse(line) as Figure
      if (typeof f.section === 'string' && typeof f.row === 'string') out.push(f)
    } catch { /* a line cut short by a killed worker: skip it */ }
  }
  return out
}

/** The table as text: one block per section, rows aligned. */
export function formatFigures (figures: readonly Figure[]): string {
  if (figures.length === 0) return '(no figures recorded)\n'
  const sections = [...new Set(figures.map((f) => f.section))]
  sections.sort((a, b) => rank(a) - rank(b))
  const rowWidth = Math.min(72, Math.max(...figures.map((f) => f.row.length)))
  const valueWidth = Math.min(24, Math.max(...figures.map((f) => String(f.value).length)))
  const lines: string[] = []
  for (const section of sections) {
    lines.push(`── ${section} ${'─'.repeat(Math.max(0, rowWidth + valueWidth - section.length))}`)
    for (const f of figures.filter((x) => x.section === section)) {
      lines.push(`  ${f.row.padEnd(rowWidth)}  ${String(f.value).padStart(valueWidth)}  ${f.unit ?? ''}`.trimEnd())
    }
  }
  return lines.join('\n') + '\n'
}

function rank (section: string): number {
  const i = ORDER.indexOf(section)
  return i === -1 ? ORDER.length : i
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = figuresFile()
  process.stdout.write(`== adversarial suite (${path})\n`)
  process.stdout.write(formatFigures(readFigures(path)))
}
