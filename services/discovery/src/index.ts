/**
 * @packageDocumentation
 *
 * The discovery process: the node's face. It owns the node identity, the public local API (gRPC
 * on a unix socket, JSON over HTTP on localhost), job routing to the local executors or to peers,
 * the signer's receipts, and (with p2p.enabled) the libp2p host.
 *
 * @example
 *
 * ```ts
 * import { createDiscovery } from '@phase-network/discovery'
 *
 * const node = createDiscovery({ logger }, config)
 * const { grpc, http } = await node.start()
 * // ...
 * await node.stop()
 * ```
 */
import type { NodeConfig, Logger } from '@phase-network/process'
import { DiscoveryNode } from './discovery-node.ts'

export { JobRunner } from './jobs.ts'
export { ExecutorSet } from './executors.ts'
export { InputStore, ModuleStore } from './module-store.ts'
export { VERSION } from '@phase-network/rpc'
export { nodeStatusJson, type NodeStatus, type NodeProcessStatus } from './status.ts'
export { IDENTITY_FILE } from './identity.ts'
export { PUBLIC_SOCKET_MODE } from './compose/public-api.ts'
export { remoteSlots } from './compose/jobs.ts'
export type { NodeInfo } from './compose/node-info.ts'

/** A discovery process: start() brings every part up in order, stop() takes them down. */
export interface Discovery {
  /** Starts the node; resolves with the public API's bound addresses. Safe to call twice. */
  start: () => Promise<DiscoveryAddresses>
  /**
   * Stops what start() started, in reverse order; safe to call twice, before start, and after a
   * failed start (which has stopped what it started already). A stopped node does not start again (UNAVAILABLE).
   */
  stop: () => Promise<void>
}

/** What discovery is given: its logger (one child per component is made from it). */
export interface DiscoveryComponents {
  logger: Logger
}

/** Discovery's settings: the node's validated, frozen configuration. */
export type DiscoveryInit = NodeConfig

/** Bound addresses after start(). */
export interface DiscoveryAddresses {
  grpc: string
  http: string | null
}

export function createDiscovery (components: DiscoveryComponents, init: DiscoveryInit): Discovery {
  return new DiscoveryNode(components, init)
}
