/** The executor's worker thread of the bare shape (shape-chain-proc.ts): instantiate + run per message. */
import { parentPort, workerData } from 'node:worker_threads'
import { runOnce } from './floors.ts'

const module = new WebAssembly.Module(workerData as Uint8Array<ArrayBuffer>)
parentPort!.on('message', (payload: Uint8Array) => {
  const out = runOnce(module, [new TextDecoder().decode(payload).slice(0, 12)])
  parentPort!.postMessage(out, [out.buffer as ArrayBuffer])
})
