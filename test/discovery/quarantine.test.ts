/**
 * The poison quarantine: modules struck by executor deaths, refused after two, for a while,
 * in a bounded map.
 */
import { describe, it, expect } from '@jest/globals'
import { Quarantine } from '../../services/discovery/src/quarantine.ts'

const A = 'sha256:' + 'a'.repeat(64)
const B = 'sha256:' + 'b'.repeat(64)

describe('Quarantine', () => {
  it('refuses a module only when its jobs were on two different dying executors', () => {
    const q = new Quarantine({ ms: 1000 })
    // Many jobs of A on the executor that died once: one death, no quarantine.
    expect(q.strike(A, '0:0', 0)).toBe(false)
    expect(q.strike(A, '0:0', 1)).toBe(false)
    expect(q.has(A, 2)).toBe(false)
    expect(q.strike(A, '1:0', 3)).toBe(true)
    expect(q.has(A, 4)).toBe(true)
    expect(q.has(B, 4)).toBe(false)
  })

  it('forgets strikes and lifts the quarantine after its time', () => {
    const q = new Quarantine({ ms: 1000 })
    q.strike(A, '0:0', 0)
    expect(q.strike(A, '1:0', 2000)).toBe(false) // the first death is forgotten by then
    expect(q.strike(A, '0:1', 2500)).toBe(true)
    expect(q.has(A, 3499)).toBe(true)
    expect(q.has(A, 3500)).toBe(false)
  })

  it('tracks at most maxEntries modules, dropping the oldest', () => {
    const q = new Quarantine({ ms: 1000, maxEntries: 100 })
    for (let i = 0; i < 1000; i++) q.strike(`sha256:${i.toString(16).padStart(64, '0')}`, '0:0', 0)
    expect(q.size).toBe(100)
  })
})
