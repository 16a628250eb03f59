/**
 * The node's content caches on disk and in memory: modules and input files by hash, each under
 * the state folder with its own byte bounds. Started by indexing what an earlier run left.
 */
import { join } from 'node:path'
import type { NodeConfig, Logger } from '@phase-network/process'
import { InputStore, ModuleStore } from '../module-store.ts'
import type { Part } from './parts.ts'

export interface Stores extends Part {
  modules: ModuleStore
  inputs: InputStore
}

export type StoresConfig = Pick<NodeConfig, 'stateDir' | 'moduleCache' | 'inputCache'>

/**
 * Opens and indexes both caches. Every write is complete on its own; stop waits for those under
 * way and writes the log lines about failed writes still pending.
 */
export async function startStores (components: { logger: Logger }, config: StoresConfig): Promise<Stores> {
  const modules = new ModuleStore(components, { dir: join(config.stateDir, 'modules'), memoryBytes: config.moduleCache.memoryBytes, diskBytes: config.moduleCache.diskBytes })
  const inputs = new InputStore(components, { dir: join(config.stateDir, 'inputs'), memoryBytes: config.inputCache.memoryBytes, diskBytes: config.inputCache.diskBytes })
  await modules.start()
  await inputs.start()
  return { modules, inputs, stop: async () => { await Promise.all([modules.close(), inputs.close()]) } }
}
