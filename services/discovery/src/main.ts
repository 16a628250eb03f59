/** Entry point of the discovery process (run by pm2, or directly with Node 24). */
import { fillCompileCacheIfAsked, runProcess } from '@phase-network/process'
import { validator } from '@phase-network/protocol'
import { loadReflection } from '@phase-network/rpc'
import { createDiscovery } from './index.ts'

// Loaded later by a running discovery: the p2p host (and with it peer ids) with each optional
// part a configuration may turn on, ajv (the manifest schema is compiled at start), the public
// API's reflection.
await fillCompileCacheIfAsked(() => [import('./p2p/index.ts').then(async (p2p) => await Promise.all(p2p.optionalParts())), Promise.resolve(validator('manifest')), loadReflection()])

await runProcess('discovery', async (config, logger) => {
  const node = createDiscovery({ logger }, config)
  await node.start()
  return node
})
