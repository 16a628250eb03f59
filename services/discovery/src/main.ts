/** Entry point of the discovery process (run by pm2, or directly with Node 24). */
import { runProcess } from '@phase-network/process'
import { createDiscovery } from './index.ts'

await runProcess('discovery', async (config, logger) => {
  const node = createDiscovery({ logger }, config)
  await node.start()
  return node
})
