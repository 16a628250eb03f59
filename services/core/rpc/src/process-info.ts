/** What a Phase process says about itself in status calls: pid, start, versions, memory. */
import type { MessageInitShape } from '@bufbuild/protobuf'
import type { ProcessInfoSchema } from './gen/phase/rpc/v1/rpc_pb.js'

/** The Phase version every process reports (kept equal to package.json by a test). */
export const VERSION = '0.1.0'

const startedAtMs = BigInt(Math.round(Date.now() - process.uptime() * 1000))
let restarts = 0

/**
 * Sets how often the supervisor restarted this process. pm2 gives each process it starts its
 * count as `restart_time` in the environment; the entry point passes it here.
 */
export function setSupervisorRestarts (count: number): void {
  restarts = Number.isSafeInteger(count) && count >= 0 && count <= 0xffffffff ? count : 0
}

export function processInfo (): MessageInitShape<typeof ProcessInfoSchema> {
  return {
    pid: process.pid,
    startedAtMs,
    version: VERSION,
    nodeVersion: process.versions.node,
    rssBytes: BigInt(process.memoryUsage.rss()),
    restarts
  }
}
