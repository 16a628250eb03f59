/** Entry point of the signer process (run by pm2, or directly with Node 24). */
import { runProcess } from '@phase-network/process'
import { internalAddresses } from '@phase-network/process'
import { createSigner } from './index.ts'

await runProcess('signer', async (config, logger) => {
  const signer = createSigner({ logger }, { stateDir: config.stateDir, address: internalAddresses(config).signer, receiptLog: config.receiptLog })
  await signer.start()
  return signer
})
