/**
 * The discovery process put together. Each part comes from its composition root in compose/,
 * built in order from the parts before it and never changed after; stop() takes them down in
 * reverse order. The order: identity, caches, executors, signer (and the replay guard), the job
 * path, then the public API, which opens once local jobs can be served, and last the network
 * (libp2p loads and starts while local jobs are served already; until then what needs it answers
 * UNAVAILABLE). start() resolves, and 'discovery ready' is said, once everything runs.
 */
import { join } from 'node:path'
import type { Logger } from '@phase-network/process'
import { UnavailableError, validator } from '@phase-network/protocol'
import { IDENTITY_FILE, loadOrCreateIdentity } from './identity.ts'
import { NodeMetrics } from './metrics.ts'
import { JobRouter } from './router.ts'
import { once, startParts, type AddPart, type Once, type Part } from './compose/parts.ts'
import { startStores } from './compose/stores.ts'
import { startExecutors } from './compose/executors.ts'
import { startSigner } from './compose/signer.ts'
import { createJobs } from './compose/jobs.ts'
import { nodeInfo, startRuntimeInfo } from './compose/node-info.ts'
import { networkPart } from './compose/network.ts'
import { diagnose as doctorReport, type DoctorReport } from './doctor.ts'
import { bindMetricsStatus } from './compose/metrics-status.ts'
import { startPublicApi } from './compose/public-api.ts'
import type { Discovery, DiscoveryAddresses, DiscoveryComponents, DiscoveryInit } from './index.ts'

interface Started extends Part {
  addresses: DiscoveryAddresses
}

export class DiscoveryNode implements Discovery {
  readonly metrics = new NodeMetrics()
  private readonly log: Logger
  private readonly config: DiscoveryInit
  private readonly starting: Once<Started>
  private readonly stopping: Once<void>

  constructor (components: DiscoveryComponents, init: DiscoveryInit) {
    this.log = components.logger
    this.config = init
    this.starting = once(async () => await startParts(async (add) => await this.build(add)))
    // A failed start has already stopped what it started (startParts).
    this.stopping = once(async () => { await (await this.starting.peek()?.catch(() => undefined))?.stop() })
  }

  async start (): Promise<DiscoveryAddresses> {
    if (this.stopping.peek() !== undefined) throw new UnavailableError('discovery was stopped; create a new one to start again')
    return (await this.starting()).addresses
  }

  async stop (): Promise<void> {
    await this.stopping()
  }

  /** Starts every part in order, recording each with `add` so a failure stops those before it. */
  private async build (add: AddPart): Promise<{ addresses: DiscoveryAddresses }> {
    const { config, log, metrics } = this
    const identity = await loadOrCreateIdentity(join(config.stateDir, IDENTITY_FILE), { logger: log })
    const peerId = identity.peerId.toString()
    const { modules, inputs } = add(await startStores({ logger: log }, config))
    const { executors } = add(startExecutors({ logger: log.child({ component: 'executors' }), metrics }, config))
    // Every job's manifest is checked against its schema: compiled now, in the start (issue 11:
    // loading ajv and compiling it was ~90 ms of the first job's latency).
    validator('manifest')
    const { signer, replays } = add(await startSigner({ logger: log }, config))
    const { runtime } = add(startRuntimeInfo(config, executors))
    // A job that names a runtime runs on this node's or is refused (never silently on another).
    const jobs = createJobs({ executors, modules, inputs, signer, replays, logger: log.child({ component: 'jobs' }), metrics, runtime }, config, peerId)
    // The network's part is recorded now, and started after the public API opens (below).
    const net = add(networkPart({ logger: log.child({ component: 'p2p' }), privateKey: identity.privateKey, jobs, modules, receiptKey: async () => await signer.publicKey(), runtime }, config))
    const { network, peers, findExecutors } = net
    const router = new JobRouter({ jobs, modules, inputs, network, logger: log.child({ component: 'router' }) }, { peerId, limits: config.limits })
    const info = nodeInfo({ signer, executors, runtime, network }, peerId)
    const status = bindMetricsStatus({ metrics, jobs, executors, signer, network }, peerId)
    const diagnose = async (options: { signal?: AbortSignal }): Promise<DoctorReport> => await doctorReport({ config, network, info }, options)
    const { addresses } = add(await startPublicApi({ logger: log, jobs: router, modules, inputs, info, status, metrics, peers, findExecutors, diagnose }, config))
    // Local jobs are served from here on; libp2p loads and starts meanwhile (issue 11: most of
    // discovery's start with p2p on). Until it runs, what needs the network answers UNAVAILABLE;
    // if it fails to start, everything above stops and the start fails, as before.
    if (network !== undefined) {
      log.info({ peerId, grpc: addresses.grpc, http: addresses.http, executors: config.executors }, 'discovery serving local jobs (p2p starting)')
      await net.start()
    }
    log.info({ peerId, grpc: addresses.grpc, http: addresses.http, executors: config.executors, p2p: network?.addresses() ?? [] }, 'discovery ready')
    return { addresses }
  }
}
