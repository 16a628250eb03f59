/**
 * The connected peers as JSON for GET /v1/peers: the same names and values as `phase peers
 * --json` (snake_case; unknown values null; reputation rounded to 3 places), so a PHP or curl
 * user sees what an operator at the CLI sees. Every string came from the peer or its signed
 * record; JSON escapes it, and a consumer printing it to a terminal must escape it too.
 */
import type { PeerSummary } from './p2p/index.ts'

export interface PeerJson {
  peer_id: string
  transport: string
  latency_ms: number | null
  runs_jobs: boolean
  receipt_public_key: string | null
  runtimes: string[]
  successes: number
  failures: number
  addresses: string[]
  agent_version: string | null
  reputation: { score: number, receipts_verified: number, receipts_refused: number, replica_disagreements: number, failures: number, refusals: number }
}

const round = (n: number): number => Math.round(n * 1000) / 1000

export function peersJson (peers: readonly PeerSummary[]): { peers: PeerJson[] } {
  return {
    peers: peers.map((p) => ({
      peer_id: p.peerId,
      transport: p.transport,
      latency_ms: p.latencyMs === null || p.latencyMs === 0 ? null : p.latencyMs,
      runs_jobs: p.jobProtocol,
      receipt_public_key: p.receiptPublicKey === null || p.receiptPublicKey === '' ? null : p.receiptPublicKey,
      runtimes: p.runtimes,
      successes: p.successes,
      failures: p.failures,
      addresses: p.addresses,
      agent_version: p.agentVersion === '' ? null : p.agentVersion,
      reputation: {
        score: round(p.reputation.score),
        receipts_verified: round(p.reputation.receiptsVerified),
        receipts_refused: round(p.reputation.receiptsRefused),
        replica_disagreements: round(p.reputation.disagreements),
        failures: round(p.reputation.failures),
        refusals: round(p.reputation.refusals)
      }
    }))
  }
}
