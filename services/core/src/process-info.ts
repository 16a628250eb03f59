/** What a Phase process says about itself in status calls: pid, start, versions, memory. */
import type { MessageInitShape } from '@bufbuild/protobuf'
import type { ProcessInfoSchema } from './gen/phase/rpc/v1/rpc_pb.js'

/** The Phase version every process reports (kept equal to package.json by a test). */
export const VERSION = '0.1.0'

const startedAtMs = BigInt(Math.round(Date.now() - process.uptime() * 1000))

export function processInfo (): MessageInitShape<typeof ProcessInfoSchema> {
  return {
    pid: process.pid,
    startedAtMs,
    version: VERSION,
    nodeVersion: process.versions.node,
    rssBytes: BigInt(process.memoryUsage.rss())
  }
}
