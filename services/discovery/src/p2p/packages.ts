/**
 * The packages the p2p part loads, for loading them one at a time (compose/network.ts).
 *
 * An `import()` of the p2p part evaluates its whole module graph (~800 modules) in one turn of
 * the event loop: ~220-300 ms here with a warm compile cache, during which discovery answers no
 * request although its public API is open and local jobs are meant to run while libp2p starts
 * (issue 11: a job sent as the API opened waited for it). Imported one by one, each package a
 * turn of its own, the longest turn is the largest package's share (~25-50 ms).
 *
 * The order puts what many others import first, so each step loads mostly its own modules. This
 * file imports nothing: reading the list must not load what it names. A test checks that every
 * package the p2p part imports is named here (test/discovery/p2p-stepwise-load.test.ts).
 */
export const P2P_PACKAGES: readonly string[] = [
  '@multiformats/multiaddr',
  'multiformats/cid',
  'multiformats/codecs/raw',
  'multiformats/hashes/sha2',
  '@libp2p/peer-id',
  '@libp2p/utils',
  'datastore-core',
  '@chainsafe/libp2p-noise',
  '@chainsafe/libp2p-yamux',
  '@libp2p/tcp',
  '@chainsafe/libp2p-quic',
  '@libp2p/identify',
  '@libp2p/ping',
  '@libp2p/kad-dht',
  '@libp2p/autonat',
  '@libp2p/circuit-relay-v2',
  '@libp2p/dcutr',
  'libp2p'
]

/** The host's optional parts (host.ts loads each only when configured), by what enables them. */
export const P2P_OPTIONAL_PACKAGES = {
  bootstrap: '@libp2p/bootstrap',
  mdns: '@libp2p/mdns',
  upnp: '@libp2p/upnp-nat'
} as const

/**
 * Imports `specifiers` in order, each in a turn of the event loop of its own (a macrotask between
 * two), so that requests waiting meanwhile are served between them. `load` is the importer (the
 * caller's `import()`, which resolves bare names from its own package).
 */
export async function loadStepwise (specifiers: readonly string[], load: (specifier: string) => Promise<unknown>): Promise<void> {
  for (const specifier of specifiers) {
    await load(specifier)
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}
