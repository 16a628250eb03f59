/**
 * The node's Prometheus metrics, served as text on the HTTP API's GET /metrics. Discovery sees
 * every job (it is the only path to the signer), the executors' load and restarts (through the
 * executor watch) and the peers, so one registry here describes the whole node. Counters count
 * from discovery's start, as Prometheus expects.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { VERSION } from '@phase-network/rpc'

/** What the gauges read when Prometheus scrapes. */
export interface MetricsSources {
  jobsInFlight: () => number
  queueDepth: () => number
  executors: () => ReadonlyArray<{ index: number, up: boolean }>
  peers: () => number | undefined
  network: () => { jobsIn: number, jobsRefused: number, jobsOut: number, jobsOutFailed: number, receiptsRefused: number, dhtRefused: number } | undefined
  /** What peers hold here now (job streams, remote jobs, bytes in flight, DHT and peer-store use). */
  peerLoad?: () => Record<string, number> | undefined
}

/** Latency buckets in seconds: sub-millisecond warm jobs up to the 60 s wall-time cap. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export class NodeMetrics {
  readonly registry = new Registry()
  private readonly jobs: Counter<'status'>
  private readonly errors: Counter<'code'>
  private readonly duration: Histogram<'status'>
  private readonly execution: Histogram<'status'>
  private readonly restarts: Counter<'executor'>
  private sources: MetricsSources | undefined
  /**
   * Each status's children, looked up once: prom-client hashes a label object on every call
   * (three per job). Statuses are the receipt's few values, so the map stays that small.
   */
  private readonly byStatus = new Map<string, { jobs: { inc: () => void }, duration: { observe: (v: number) => void }, execution: { observe: (v: number) => void } }>()

  constructor (options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry]
    this.jobs = new Counter({ name: 'phase_jobs_total', help: 'Jobs run on this node to an outcome, by receipt status (ok, exit, trap, timeout, memory_limit, output_limit).', labelNames: ['status'], registers })
    this.errors = new Counter({ name: 'phase_job_errors_total', help: 'Jobs refused or failed without a receipt, by error code (invalid_manifest, queue_full, unavailable, ...).', labelNames: ['code'], registers })
    this.duration = new Histogram({ name: 'phase_job_duration_seconds', help: 'Time from accepting a job to its signed receipt, by status.', labelNames: ['status'], buckets: LATENCY_BUCKETS, registers })
    this.execution = new Histogram({ name: 'phase_job_execution_seconds', help: 'Wall time of the module itself in the executor, by status.', labelNames: ['status'], buckets: LATENCY_BUCKETS, registers })
    this.restarts = new Counter({ name: 'phase_executor_restarts_total', help: 'Executor processes replaced by a new process behind the same index (crash, kill, OOM) since discovery started.', labelNames: ['executor'], registers })
    const self = this
    new Gauge({ name: 'phase_jobs_in_flight', help: 'Jobs accepted and not yet finished.', registers, collect () { this.set(self.sources?.jobsInFlight() ?? 0) } })
    new Gauge({ name: 'phase_queue_depth', help: 'Jobs waiting for a worker in the executors\' queues.', registers, collect () { this.set(self.sources?.queueDepth() ?? 0) } })
    new Gauge({
      name: 'phase_executors', help: 'Executor processes known to discovery, by state (up answers its status call, down does not).', labelNames: ['state'], registers,
      collect () {
        const all = self.sources?.executors() ?? []
        const up = all.filter((e) => e.up).length
        this.set({ state: 'up' }, up)
        this.set({ state: 'down' }, all.length - up)
      }
    })
    new Gauge({
      name: 'phase_peers', help: 'Connected libp2p peers (absent when p2p is off).', registers,
      collect () { const n = self.sources?.peers(); if (n !== undefined) this.set(n) }
    })
    const network = (name: string, help: string, key: keyof NonNullable<ReturnType<MetricsSources['network']>>): void => {
      // Monotonic counts kept by the network layer, exposed as counters.
      new Counter({ name, help, registers, collect () { const n = self.sources?.network(); if (n !== undefined) { this.reset(); this.inc(n[key]) } } })
    }
    network('phase_p2p_jobs_in_total', 'Jobs peers sent to this node and it accepted.', 'jobsIn')
    network('phase_p2p_jobs_refused_total', 'Jobs peers sent that this node refused (capacity, limits, rate).', 'jobsRefused')
    network('phase_p2p_jobs_out_total', 'Jobs this node sent to peers.', 'jobsOut')
    network('phase_p2p_jobs_out_failed_total', 'Jobs sent to peers that failed or were refused.', 'jobsOutFailed')
    network('phase_p2p_receipts_refused_total', 'Receipts from peers that failed verification.', 'receiptsRefused')
    network('phase_p2p_dht_requests_refused_total', "Peers' DHT requests refused: past their rate, all peers' rate, or from a peer cut off.", 'dhtRefused')
    new Gauge({
      name: 'phase_p2p_load', help: 'What peers hold on this node now, by kind: streams, remote_jobs, inflight_bytes, provider_records, peer_store_entries, dht_bytes, peer_store_bytes, ...', labelNames: ['kind'], registers,
      collect () {
        this.reset()
        const load = self.sources?.peerLoad?.()
        if (load !== undefined) for (const [kind, n] of Object.entries(load)) this.set({ kind: kind.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) }, n)
      }
    })
    new Gauge({ name: 'phase_build_info', help: 'Phase and Node.js versions of this node (always 1).', labelNames: ['version', 'node_version'], registers }).set({ version: VERSION, node_version: process.versions.node }, 1)
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })
  }

  /** Connects the gauges to the live node (done once it is started). */
  bind (sources: MetricsSources): void { this.sources = sources }

  jobDone (status: string, seconds: number, executionSeconds: number): void {
    let s = this.byStatus.get(status)
    if (s === undefined) {
      s = { jobs: this.jobs.labels(status), duration: this.duration.labels(status), execution: this.execution.labels(status) }
      this.byStatus.set(status, s)
    }
    s.jobs.inc()
    s.duration.observe(seconds)
    s.execution.observe(executionSeconds)
  }

  jobFailed (code: string): void { this.errors.inc({ code }) }

  executorRestarted (index: number): void { this.restarts.inc({ executor: String(index) }) }

  /** Job counts by status since start (for GetNodeStatus). */
  async jobsByStatus (): Promise<Record<string, number>> {
    const out: Record<string, number> = {}
    for (const v of (await this.jobs.get()).values) out[String(v.labels.status)] = v.value
    return out
  }

  async text (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
