/**
 * The libp2p host's datastore (in memory), with what strangers can put in it bounded in bytes.
 * Any peer can ask a Kademlia node to store provider records (ADD_PROVIDER, one per key it
 * names) and values (PUT_VALUE), and every peer that ever connected leaves a peer-store entry
 * behind. Here:
 *  - DHT records (`/dht/...`): at most `maxDhtBytes` in all and `maxProviderRecordsPerPeer` provider
 *    records per providing peer; past either, new records are refused (the peer's request fails),
 *    records already stored stay.
 *  - Peer-store entries (`/peers/...`): at most `maxPeerStoreBytes`; past it the least recently
 *    written entries are dropped (a peer that is still around writes its entry again).
 * The node's own provider records (`self`: its capability keys, a handful) are outside the bound:
 * kad-dht stores each locally before it sends it out, so strangers who filled the zone would
 * otherwise stop the node from announcing itself at all.
 */
import { MemoryDatastore } from 'datastore-core'
import type { Key } from 'interface-datastore'
import { LimitExceededError } from '@phase-network/protocol'

export interface BoundedDatastoreInit {
  /** Bytes (keys and values) of DHT records from all peers. Default: 16 MiB. */
  maxDhtBytes?: number
  /** Provider records one peer may keep here. Default: 256 (a Phase node provides 3). */
  maxProviderRecordsPerPeer?: number
  /** Bytes (keys and values) of peer-store entries. Default: 32 MiB. */
  maxPeerStoreBytes?: number
  /** The DHT's datastore prefix. Default: '/dht'. */
  dhtPrefix?: string
  /** This node's PeerId: its own provider records are not counted. Default: none. */
  self?: string
}

/** Longest PeerId text quoted in an error message. */
const MAX_QUOTED_PEER = 64
export const DEFAULT_MAX_DHT_BYTES = 16 * 1024 * 1024
export const DEFAULT_MAX_PROVIDER_RECORDS_PER_PEER = 256
export const DEFAULT_MAX_PEER_STORE_BYTES = 32 * 1024 * 1024

const PEERS_PREFIX = '/peers/'

export class BoundedDatastore extends MemoryDatastore {
  private readonly limits: Required<BoundedDatastoreInit>
  private readonly providerPrefix: string
  private dhtBytes = 0
  private peerBytes = 0
  /** Each stored key of a bounded zone and its size, in write order (oldest first). */
  private readonly sizes = new Map<string, { key: Key, size: number }>()
  private readonly providersByPeer = new Map<string, number>()

  constructor (init: BoundedDatastoreInit = {}) {
    super()
    this.limits = {
      maxDhtBytes: init.maxDhtBytes ?? DEFAULT_MAX_DHT_BYTES,
      maxProviderRecordsPerPeer: init.maxProviderRecordsPerPeer ?? DEFAULT_MAX_PROVIDER_RECORDS_PER_PEER,
      maxPeerStoreBytes: init.maxPeerStoreBytes ?? DEFAULT_MAX_PEER_STORE_BYTES,
      dhtPrefix: init.dhtPrefix ?? '/dht',
      self: init.self ?? ''
    }
    this.providerPrefix = `${this.limits.dhtPrefix}/provider/`
  }

  /** What the bounded zones hold now. */
  usage (): { dhtBytes: number, peerStoreBytes: number, providerRecords: number, peerStoreEntries: number } {
    let providerRecords = 0
    for (const n of this.providersByPeer.values()) providerRecords += n
    let peerStoreEntries = 0
    for (const k of this.sizes.keys()) if (k.startsWith(PEERS_PREFIX)) peerStoreEntries++
    return { dhtBytes: this.dhtBytes, peerStoreBytes: this.peerBytes, providerRecords, peerStoreEntries }
  }

  override put (key: Key, val: Uint8Array, options?: { signal?: AbortSignal }): Key {
    const k = key.toString()
    const zone = this.zoneOf(k)
    if (zone === undefined) return super.put(key, val, options) as Key
    const size = k.length + val.byteLength
    const old = this.sizes.get(k)?.size
    if (zone === 'dht') {
      const provider = this.providerOf(k)
      if (provider !== undefined && provider === this.limits.self) return super.put(key, val, options) as Key
      if (old === undefined && provider !== undefined && (this.providersByPeer.get(provider) ?? 0) >= this.limits.maxProviderRecordsPerPeer) {
        throw new LimitExceededError(`peer ${provider.slice(0, MAX_QUOTED_PEER)} has ${this.limits.maxProviderRecordsPerPeer} provider records here already`)
      }
      if (this.dhtBytes - (old ?? 0) + size > this.limits.maxDhtBytes) {
        throw new LimitExceededError(`DHT records here are at their limit of ${this.limits.maxDhtBytes} bytes`)
      }
      if (old === undefined && provider !== undefined) this.providersByPeer.set(provider, (this.providersByPeer.get(provider) ?? 0) + 1)
      this.dhtBytes += size - (old ?? 0)
    } else {
      this.peerBytes += size - (old ?? 0)
    }
    this.sizes.delete(k)
    this.sizes.set(k, { key, size })
    const stored = super.put(key, val, options) as Key
    if (zone === 'peers') this.evictPeers(k)
    return stored
  }

  override delete (key: Key, options?: { signal?: AbortSignal }): void {
    this.forget(key.toString())
    super.delete(key, options)
  }

  private forget (k: string): void {
    const old = this.sizes.get(k)?.size
    if (old === undefined) return
    this.sizes.delete(k)
    if (this.zoneOf(k) === 'peers') {
      this.peerBytes -= old
      return
    }
    this.dhtBytes -= old
    const provider = this.providerOf(k)
    if (provider === undefined) return
    const n = (this.providersByPeer.get(provider) ?? 1) - 1
    if (n <= 0) this.providersByPeer.delete(provider)
    else this.providersByPeer.set(provider, n)
  }

  /** Drops the least recently written peer-store entries (never `keep`) until they fit. */
  private evictPeers (keep: string): void {
    if (this.peerBytes <= this.limits.maxPeerStoreBytes) return
    for (const [k, { key }] of this.sizes) {
      if (this.peerBytes <= this.limits.maxPeerStoreBytes) return
      if (k === keep || !k.startsWith(PEERS_PREFIX)) continue
      this.forget(k)
      super.delete(key)
    }
  }

  private zoneOf (k: string): 'dht' | 'peers' | undefined {
    if (k.startsWith(PEERS_PREFIX)) return 'peers'
    if (k.startsWith(`${this.limits.dhtPrefix}/`)) return 'dht'
    return undefined
  }

  /** `/dht/provider/<cid>/<peer>` → `<peer>`. */
  private providerOf (k: string): string | undefined {
    if (!k.startsWith(this.providerPrefix)) return undefined
    const rest = k.slice(this.providerPrefix.length)
    const slash = rest.indexOf('/')
    return slash === -1 ? undefined : rest.slice(slash + 1)
  }
}
