/**
 * The supply chain as CI sees it: every locked package pinned by a sha512 integrity hash,
 * install scripts reviewed (only the ones this tree needs allowed, none other changed a file),
 * and `npm audit`'s answer recorded (the registry reachable here refuses it with 405).
 */
import { describe, it, expect, beforeAll } from '@jest/globals'
import { checkIntegrity, checkScripts, checkAudit, lockPackages, type Finding } from './check.ts'
import { figure } from '../helpers/figures.ts'

function record (findings: Finding[]): void {
  for (const f of findings) figure('supply chain', f.row, f.value, f.unit)
}

function failures (findings: Finding[]): string[] {
  return findings.filter((f) => !f.ok).map((f) => `${f.row}: ${String(f.value)}\n${f.detail ?? ''}`)
}

describe('supply chain', () => {
  let packages: ReturnType<typeof lockPackages>
  beforeAll(() => { packages = lockPackages() })

  it('pins every locked package by version and sha512 integrity, from the public registry', () => {
    const findings = checkIntegrity(packages)
    record(findings)
    expect(packages.length).toBeGreaterThan(100)
    expect(failures(findings)).toEqual([])
  })

  it('allows only the install scripts this tree needs, reviews the rest, and no other script changed a file', async () => {
    const findings = await checkScripts(packages)
    record(findings)
    expect(failures(findings)).toEqual([])
  }, 120_000)

  it('records npm audit: refused with 405 by this registry, or no high/critical advisory', async () => {
    const finding = await checkAudit()
    record([finding])
    expect(failures([finding])).toEqual([])
  }, 120_000)
})
