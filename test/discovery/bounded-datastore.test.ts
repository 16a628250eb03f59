/** BoundedDatastore: DHT records and peer-store entries capped in bytes (and per providing peer). */
import { describe, it, expect } from '@jest/globals'
import { Key } from 'interface-datastore'
import { BoundedDatastore } from '../../services/discovery/src/p2p/bounded-datastore.ts'

const bytes = (n: number): Uint8Array => new Uint8Array(n)

describe('BoundedDatastore', () => {
  it('refuses provider records past the per-peer count and keeps the others', () => {
    const store = new BoundedDatastore({ maxProviderRecordsPerPeer: 2 })
    store.put(new Key('/dht/provider/cid1/peerA'), bytes(8))
    store.put(new Key('/dht/provider/cid2/peerA'), bytes(8))
    expect(() => store.put(new Key('/dht/provider/cid3/peerA'), bytes(8))).toThrow(expect.objectContaining({ code: 'limit_exceeded' }))
    store.put(new Key('/dht/provider/cid1/peerA'), bytes(8)) // a refresh of a record it has is fine
    store.put(new Key('/dht/provider/cid3/peerB'), bytes(8))
    store.delete(new Key('/dht/provider/cid1/peerA'))
    store.put(new Key('/dht/provider/cid4/peerA'), bytes(8))
    expect(store.usage().providerRecords).toBe(3)
  })

  it('refuses DHT records past the byte cap', () => {
    const store = new BoundedDatastore({ maxDhtBytes: 1000 })
    store.put(new Key('/dht/record/a'), bytes(900))
    expect(() => store.put(new Key('/dht/record/b'), bytes(200))).toThrow(expect.objectContaining({ code: 'limit_exceeded' }))
    expect(store.usage().dhtBytes).toBe(900 + '/dht/record/a'.length)
  })

  it("stores this node's own provider records however full strangers' records made the zone", () => {
    const store = new BoundedDatastore({ maxDhtBytes: 1000, maxProviderRecordsPerPeer: 1, self: 'peerSelf' })
    store.put(new Key('/dht/provider/cid1/peerA'), bytes(900))
    expect(() => store.put(new Key('/dht/provider/cid2/peerB'), bytes(200))).toThrow(expect.objectContaining({ code: 'limit_exceeded' }))
    for (const cid of ['cid1', 'cid2', 'cid3']) store.put(new Key(`/dht/provider/${cid}/peerSelf`), bytes(200))
    expect(store.has(new Key('/dht/provider/cid3/peerSelf'))).toBe(true)
    // Not counted, so they take no stranger's room either.
    expect(store.usage()).toEqual(expect.objectContaining({ dhtBytes: 900 + '/dht/provider/cid1/peerA'.length, providerRecords: 1 }))
    store.delete(new Key('/dht/provider/cid3/peerSelf'))
    expect(store.usage().dhtBytes).toBe(900 + '/dht/provider/cid1/peerA'.length)
  })

  it('drops the least recently written peer-store entries past the byte cap', async () => {
    const store = new BoundedDatastore({ maxPeerStoreBytes: 3000 })
    for (let i = 0; i < 10; i++) store.put(new Key(`/peers/p${i}`), bytes(1000))
    expect(store.usage().peerStoreEntries).toBe(2)
    expect(store.has(new Key('/peers/p9'))).toBe(true)
    expect(store.has(new Key('/peers/p0'))).toBe(false)
    // Other keys (the node's own state) are not bounded here.
    store.put(new Key('/local/x'), bytes(10_000))
    expect(store.has(new Key('/local/x'))).toBe(true)
  })
})
