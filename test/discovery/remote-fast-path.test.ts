/**
 * What a warm remote job no longer pays for on each node (bench/network-remote.ts profiles),
 * with its guarantees kept: a deadline per wait that is disarmed when the wait ends (and still
 * fires, typed, when it does not), the length decoder's "need another byte" without a new Error
 * per message, PeerIds parsed once, in a bounded cache, and the capability record's canonical
 * JSON made once per record.
 */
import { describe, it, expect } from '@jest/globals'
import { streamPair } from '@libp2p/utils'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { deadline } from '../../services/discovery/src/deadline.ts'
import { lengthDecoder, messageStream, readMessage, UNFINISHED_PREFIX, writeMessage } from '../../services/discovery/src/p2p/job-protocol.ts'
import { peerIdOf, cachedPeerIds, MAX_CACHED_PEER_IDS } from '../../services/discovery/src/p2p/peer-ids.ts'
import { isPhaseError } from '../../services/core/protocol/src/errors.ts'
import { Uint8ArrayList } from 'uint8arraylist'
import { capabilityJson } from '../../services/discovery/src/node-service.ts'
import { canonicalBytes } from '../../services/core/protocol/src/canonical.ts'

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

describe('deadline', () => {
  it('disarms its timer when cleared, so nothing fires after the wait', () => {
    const before = timers()
    const d = deadline(undefined, 60_000)
    expect(timers()).toBe(before + 1)
    d.clear()
    d.clear()
    expect(timers()).toBe(before)
    expect(d.signal!.aborted).toBe(false)
  })

  it('aborts with a TimeoutError and says it expired when the time passes', async () => {
    const d = deadline(undefined, 5)
    await new Promise((resolve) => d.signal!.addEventListener('abort', resolve, { once: true }))
    expect(d.expired).toBe(true)
    expect((d.signal!.reason as Error).name).toBe('TimeoutError')
  })

  it("follows the caller's signal with its reason, and is not expired then", () => {
    const caller = new AbortController()
    const d = deadline(caller.signal, 60_000)
    caller.abort(new Error('client went away'))
    expect(d.signal!.aborted).toBe(true)
    expect((d.signal!.reason as Error).message).toBe('client went away')
    expect(d.expired).toBe(false)
    d.clear()
  })

  it("is the caller's own signal when there is no time limit", () => {
    const caller = new AbortController()
    expect(deadline(caller.signal, undefined).signal).toBe(caller.signal)
  })
})

describe('job stream framing', () => {
  it('disarms the read deadline once the message arrived', async () => {
    const [a, b] = await streamPair()
    const la = messageStream(a, 1024)
    const lb = messageStream(b, 1024)
    const before = timers()
    const read = readMessage(lb, 'a message', 'server', undefined, 60_000)
    expect(timers()).toBe(before + 1)
    await writeMessage(la, new Uint8Array(300).fill(1), 'a message')
    expect((await read).byteLength).toBe(300)
    expect(timers()).toBe(before)
  })

  it('still ends a read with deadline_exceeded when no message comes in time', async () => {
    const [, b] = await streamPair()
    const err = await readMessage(messageStream(b, 1024), 'a message', 'server', undefined, 20).catch((e: unknown) => e)
    expect(isPhaseError(err, 'deadline_exceeded')).toBe(true)
  })

  it('asks for another byte of a length prefix with one shared RangeError, not a new Error per message', () => {
    const decode = lengthDecoder(1 << 20)
    const first = (() => { try { decode(new Uint8ArrayList(Uint8Array.of(0xac))); return undefined } catch (e) { return e } })()
    const again = (() => { try { decode(new Uint8ArrayList(Uint8Array.of(0x80))); return undefined } catch (e) { return e } })()
    expect(first).toBeInstanceOf(RangeError)
    expect(first).toBe(UNFINISHED_PREFIX)
    expect(again).toBe(first)
    expect(decode(new Uint8ArrayList(Uint8Array.of(0xac, 0x02)))).toBe(300)
  })

  it('still refuses a length prefix longer than any size under the cap', () => {
    const decode = lengthDecoder(1024)
    expect(() => decode(new Uint8ArrayList(Uint8Array.of(0x80, 0x80)))).toThrow(expect.objectContaining({ name: 'InvalidDataLengthLengthError' }))
  })
})

describe('peerIdOf', () => {
  it('parses a PeerId string once and returns the same PeerId after', async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const first = peerIdOf(id)
    expect(first.toString()).toBe(id)
    expect(peerIdOf(id)).toBe(first)
  })

  it('throws for a string that names no PeerId, and keeps nothing of it', () => {
    const before = cachedPeerIds()
    expect(() => peerIdOf('not-a-peer-id')).toThrow()
    expect(cachedPeerIds()).toBe(before)
  })

  it(`keeps at most ${MAX_CACHED_PEER_IDS} PeerIds, the least recently used going first`, async () => {
    const keep = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const kept = peerIdOf(keep)
    const others = await Promise.all(Array.from({ length: MAX_CACHED_PEER_IDS }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    const oldest = peerIdOf(others[0]!)
    for (const [i, s] of others.entries()) {
      peerIdOf(s)
      // `keep` stays the most recently used one.
      if (i % 100 === 0) peerIdOf(keep)
    }
    peerIdOf(keep)
    expect(cachedPeerIds()).toBeLessThanOrEqual(MAX_CACHED_PEER_IDS)
    expect(peerIdOf(keep)).toBe(kept)
    // others[0] was pushed out by the 1024 after it, and is parsed again.
    expect(peerIdOf(others[0]!)).not.toBe(oldest)
  })
})

describe('capabilityJson (node service answers)', () => {
  it('canonicalizes a capability record once, and again only for a renewed record', () => {
    const record = { peer_id: 'x', receipt_public_key: 'ab'.repeat(32), expires_at: 1 }
    const bytes = capabilityJson(record)
    expect(new TextDecoder().decode(bytes)).toBe(new TextDecoder().decode(canonicalBytes(record)))
    expect(capabilityJson(record)).toBe(bytes)
    expect(capabilityJson({ ...record, expires_at: 2 })).not.toBe(bytes)
  })
})
