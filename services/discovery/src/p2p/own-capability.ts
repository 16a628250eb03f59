/**
 * This node's own capability record: what it offers (runtimes, arch, cores, memory, the limits
 * it enforces on remote jobs, queue depth, protocols), signed with its libp2p key so no other
 * peer can forge it. Signed once and served until it is close to expiring, then signed afresh
 * (a record's queue depth is as old as the record).
 */
import { arch, availableParallelism, totalmem } from 'node:os'
import type { PrivateKey } from '@libp2p/interface'
import { signCapability, type CapabilityRecord } from '@phase-network/protocol'
import type { LimitsConfig } from '@phase-network/process'
import type { JobRunner } from '../jobs.ts'
import { JOB_PROTOCOL } from './job-protocol.ts'
import { JOB_PROTOCOL_2 } from './job-protocol-2.ts'

/** A record with less than this left before it expires is signed afresh, so a peer never gets one about to expire, ms. */
export const RENEW_BEFORE_EXPIRY_MS = 60_000
const MIB = 1024 * 1024

export interface OwnCapabilityComponents {
  privateKey: PrivateKey
  jobs: Pick<JobRunner, 'running'>
  receiptKey: () => Promise<string>
  runtime: () => Promise<{ name: string, version: string }>
}

export interface OwnCapabilityInit {
  /** The limits peers' jobs get here (the remote ones). */
  limits: LimitsConfig
}

export class OwnCapability {
  private readonly c: OwnCapabilityComponents
  private readonly limits: LimitsConfig
  private own: CapabilityRecord | undefined

  constructor (components: OwnCapabilityComponents, init: OwnCapabilityInit) {
    this.c = components
    this.limits = init.limits
  }

  /** The current signed record of `peerId` (this node), renewed before it expires. */
  async record (peerId: string, now = Date.now()): Promise<CapabilityRecord> {
    if (this.own !== undefined && this.own.expires_at - now > RENEW_BEFORE_EXPIRY_MS) return this.own
    const l = this.limits
    const runtime = await this.c.runtime()
    this.own = await signCapability(this.c.privateKey, peerId, {
      version: 1,
      receipt_public_key: await this.c.receiptKey(),
      runtimes: [runtime],
      arch: arch(),
      cores: availableParallelism(),
      memory_mb: Math.floor(totalmem() / MIB),
      limits: { max_memory_mb: l.maxMemoryMb, max_timeout_ms: l.maxTimeoutMs, max_output_bytes: l.maxOutputBytes, max_module_bytes: l.maxModuleBytes },
      queue_depth: this.c.jobs.running,
      protocols: [JOB_PROTOCOL_2, JOB_PROTOCOL]
    })
    return this.own
  }
}
