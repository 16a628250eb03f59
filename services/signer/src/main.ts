/** Entry point of the signer process (run by pm2, or directly with Node 24). */
import { fillCompileCacheIfAsked, runProcess } from '@phase-network/process'
import { internalAddresses } from '@phase-network/process'
import { validator } from '@phase-network/protocol'
import { createSigner } from './index.ts'

// Loaded later by a running signer: ajv (the receipt schema is compiled at start).
await fillCompileCacheIfAsked(() => [Promise.resolve(validator('receipt'))])

await runProcess('signer', async (config, logger) => {
  const signer = createSigner({ logger }, { stateDir: config.stateDir, address: internalAddresses(config).signer, receiptLog: config.receiptLog })
  await signer.start()
  return signer
})
