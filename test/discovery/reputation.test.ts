import { describe, it, expect, afterAll } from '@jest/globals'
import { mkdtempSync, rmSync, writeFileSync, statSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Reputation, HALF_LIFE_MS, PRIOR_GOOD, PRIOR_BAD, EXPLORE_EVIDENCE, scoreOf } from '../../services/discovery/src/p2p/reputation.ts'
import { ReputationFile, MAX_REPUTATION_FILE_BYTES } from '../../services/discovery/src/p2p/reputation-file.ts'
import { evidenceOfError } from '../../services/discovery/src/p2p/remote-jobs.ts'
import { minority } from '../../services/discovery/src/router.ts'
import { PhaseError, UnavailableError, VerificationError, QueueFullError } from '../../services/core/protocol/src/errors.ts'
import { silentLogger } from '../../services/core/process/src/logger.ts'

const dir = mkdtempSync(join(tmpdir(), 'phase-rep-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })
const PEER = (i: number): string => `12D3KooW${String(i).padStart(44, 'A')}`

describe('Reputation', () => {
  it('starts a new peer at the optimistic prior, above a peer caught lying or failing, below a proven one', () => {
    const rep = new Reputation({ random: () => 1 })
    for (let i = 0; i < 10; i++) rep.record('good', 'verified', 20)
    rep.record('liar', 'verified', 20)
    rep.record('liar', 'disagreement')
    rep.record('flaky', 'failure')
    rep.record('flaky', 'failure')
    expect(rep.get('new').score).toBeCloseTo(PRIOR_GOOD / (PRIOR_GOOD + PRIOR_BAD))
    expect(rep.rank(['liar', 'flaky', 'new', 'good'])).toEqual(['good', 'new', 'flaky', 'liar'])
  })

  it('ranks a slow peer below a fast one with the same record', () => {
    const rep = new Reputation({ random: () => 1 })
    for (let i = 0; i < 5; i++) { rep.record('slow', 'verified', 2000); rep.record('fast', 'verified', 20) }
    expect(rep.get('slow').score).toBeLessThan(rep.get('fast').score / 2)
    expect(rep.rank(['slow', 'fast'])).toEqual(['fast', 'slow'])
  })

  it('puts an unproven peer first in the exploration share of choices, never a proven bad one', () => {
    let r = 0
    const rep = new Reputation({ random: () => r, exploreShare: 0.1 })
    for (let i = 0; i < 10; i++) rep.record('good', 'verified', 20)
    rep.record('liar', 'receipt_refused')
    r = 0.05
    expect(rep.rank(['good', 'liar', 'new'])[0]).toBe('new')
    expect(rep.rank(['good', 'liar'])[0]).toBe('good')
    r = 0.5
    expect(rep.rank(['good', 'liar', 'new'])[0]).toBe('good')
  })

  it('halves evidence every half-life (injected clock), so a liar is forgiven and explored again in time', () => {
    let now = 1_000_000
    const rep = new Reputation({ now: () => now, random: () => 0 })
    rep.record('liar', 'receipt_refused')
    const fresh = rep.get('liar')
    expect(fresh.receiptsRefused).toBe(1)
    now += HALF_LIFE_MS
    expect(rep.get('liar').receiptsRefused).toBeCloseTo(0.5)
    expect(rep.get('liar').score).toBeGreaterThan(fresh.score)
    // Proven bad for now: not explored.
    expect(rep.rank(['good', 'liar'])[0]).toBe('good')
    now += 3 * HALF_LIFE_MS
    for (let i = 0; i < 10; i++) rep.record('good', 'verified', 20)
    // 10 × 1/16 < EXPLORE_EVIDENCE: unproven again, and explored.
    expect(rep.get('liar').receiptsRefused * 10).toBeLessThan(EXPLORE_EVIDENCE)
    expect(rep.rank(['good', 'liar'])[0]).toBe('liar')
    expect(rep.get('liar').failed).toBe(1)
  })

  it('keeps at most maxPeers, dropping the least evidenced (fresh PeerIds evict each other, not the liar)', () => {
    const rep = new Reputation({ maxPeers: 10 })
    rep.record('liar', 'receipt_refused')
    for (let i = 0; i < 100; i++) rep.record(`sybil${i}`, 'refusal')
    expect(rep.size).toBe(10)
    expect(rep.get('liar').receiptsRefused).toBeCloseTo(1)
  })

  it('survives a snapshot and restore (what a restart does)', () => {
    // One fixed clock for both: the counts decay with time, and a millisecond between the two
    // reads made them differ in the ninth digit (CI).
    const now = (): number => 1_800_000_000_000
    const a = new Reputation({ now })
    a.record('p', 'verified', 30)
    a.record('p', 'failure')
    expect(a.dirty).toBe(true)
    const snap = a.snapshot()
    expect(a.dirty).toBe(false)
    const b = new Reputation({ now })
    b.restore(JSON.parse(JSON.stringify(snap)))
    expect(b.get('p')).toEqual(a.get('p'))
  })

  it('scores in [0, 1]', () => {
    expect(scoreOf(undefined)).toBeLessThanOrEqual(1)
    expect(scoreOf({ verified: 1e9, receiptsRefused: 0, disagreements: 0, failures: 0, refusals: 0, latencyMs: 0, successes: 0, failed: 0, at: 0 })).toBeLessThanOrEqual(1)
  })
})

describe('evidenceOfError', () => {
  it('tells a refused receipt, a failure and a refusal apart, and blames nobody when the caller gave up or the fault is ours', () => {
    expect(evidenceOfError(new VerificationError('stdout', 'x'), false)).toBe('receipt_refused')
    expect(evidenceOfError(new UnavailableError('gone'), false)).toBe('failure')
    expect(evidenceOfError(new PhaseError('deadline_exceeded', 'slow'), false)).toBe('failure')
    expect(evidenceOfError(new Error('untyped'), false)).toBe('failure')
    expect(evidenceOfError(new QueueFullError('busy'), false)).toBe('refusal')
    expect(evidenceOfError(new UnavailableError('gone'), true)).toBeUndefined()
    expect(evidenceOfError(new PhaseError('module_not_cached', 'ours'), false)).toBeUndefined()
  })
})

describe('minority', () => {
  it('names the remote runs outvoted by a strict majority', () => {
    expect(minority([{ peerId: 'me', key: 'a' }, { peerId: 'p', key: 'a' }, { peerId: 'liar', key: 'b' }], 'me')).toEqual(['liar'])
  })
  it('trusts this node\'s own run in a tie, and names nobody in a tie among peers', () => {
    expect(minority([{ peerId: 'me', key: 'a' }, { peerId: 'liar', key: 'b' }], 'me')).toEqual(['liar'])
    expect(minority([{ peerId: 'p', key: 'a' }, { peerId: 'q', key: 'b' }], 'me')).toEqual([])
    expect(minority([{ peerId: 'p', key: 'a' }, { peerId: 'q', key: 'a' }], 'me')).toEqual([])
  })
})

describe('ReputationFile', () => {
  it('writes atomically with mode 0600 and reads back what it wrote', async () => {
    const path = join(dir, 'a', 'reputation.json')
    const file = new ReputationFile({ logger: silentLogger() }, { path })
    const rep = new Reputation()
    rep.record(PEER(1), 'verified', 12)
    rep.record(PEER(2), 'disagreement')
    await file.save(rep.snapshot())
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(dir, 'a'))).toEqual(['reputation.json'])
    const back = new Reputation()
    back.restore(await file.load())
    expect(back.get(PEER(2)).disagreements).toBeCloseTo(1)
    expect(back.get(PEER(1)).latencyMs).toBe(12)
  })

  it('keeps the file under its byte cap, dropping the least evidenced peers', async () => {
    const path = join(dir, 'b.json')
    const file = new ReputationFile({ logger: silentLogger() }, { path, maxBytes: 4096 })
    const rep = new Reputation({ maxPeers: 1000 })
    for (let i = 0; i < 200; i++) rep.record(PEER(i), 'refusal')
    rep.record(PEER(999), 'receipt_refused')
    await file.save(rep.snapshot())
    expect(statSync(path).size).toBeLessThanOrEqual(4096)
    const back = await file.load()
    expect(Object.keys(back).length).toBeGreaterThan(0)
    expect(back[PEER(999)]?.receiptsRefused).toBeCloseTo(1)
  })

  it('ignores a file over the cap, not JSON, or with bad entries (starts over, never fails the node)', async () => {
    const file = (name: string): ReputationFile => new ReputationFile({ logger: silentLogger() }, { path: join(dir, name) })
    writeFileSync(join(dir, 'big.json'), ' '.repeat(MAX_REPUTATION_FILE_BYTES + 1))
    expect(await file('big.json').load()).toEqual({})
    writeFileSync(join(dir, 'junk.json'), '{"version":1,')
    expect(await file('junk.json').load()).toEqual({})
    expect(await file('missing.json').load()).toEqual({})
    const good = { verified: 1, receiptsRefused: 0, disagreements: 0, failures: 0, refusals: 0, latencyMs: null, successes: 1, failed: 0, at: 1 }
    writeFileSync(join(dir, 'mixed.json'), JSON.stringify({ version: 1, peers: { [PEER(1)]: good, [PEER(2)]: { ...good, verified: -1 }, [PEER(3)]: { ...good, failures: 'x' }, 'not/a/peer': good, [PEER(4)]: { ...good, latencyMs: -5 } } }))
    expect(Object.keys(await file('mixed.json').load())).toEqual([PEER(1)])
    expect(readFileSync(join(dir, 'mixed.json'), 'utf8')).toContain('not/a/peer')
  })
})
