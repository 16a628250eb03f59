/**
 * Capability keys in the DHT: a node provides `phase:capability:executor`,
 * `…:runtime:<name>` and `…:arch:<arch>`, so a lookup by what a job needs finds the nodes
 * that offer it. A provider record only says "ask me"; the signed capability record decides.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { CapabilityRecord } from '@phase-network/protocol'

export interface Requirements {
  runtime?: string
  arch?: string
  min_memory_mb?: number
  min_cores?: number
}

const encoder = new TextEncoder()

export async function capabilityKey (name: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(encoder.encode(`phase:capability:${name}`)))
}

export function announceKeys (runtime: string, arch: string): string[] {
  return ['executor', `runtime:${runtime}`, `arch:${arch}`]
}

/** True when a node's verified record satisfies what a job requires. */
export function meets (record: CapabilityRecord, req: Requirements): boolean {
  if (req.runtime !== undefined && req.runtime !== '' && !record.runtimes.some((r) => r.name === req.runtime)) return false
  if (req.arch !== undefined && req.arch !== '' && record.arch !== req.arch) return false
  if ((req.min_memory_mb ?? 0) > record.limits.max_memory_mb) return false
  if ((req.min_cores ?? 0) > record.cores) return false
  return true
}
