/**
 * A pool worker that says ready, then dies a moment later whatever it is doing (a job it was
 * given included): a host that keeps dying.
 */
import { parentPort } from 'node:worker_threads'

parentPort!.postMessage({ kind: 'ready', threadCpuUs: 0 })
setTimeout(() => process.exit(1), 20)
