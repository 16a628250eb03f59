/** A valid unsigned receipt for tests, with every field filled in. */
import type { UnsignedReceipt } from '../../services/core/src/documents/receipt.ts'

export const PEER_ID = '12D3KooWRndVhVZPCiQwHBBBdg769GyrPUW13zxwqQyf9r3ANaba'

export function unsignedReceipt (publicKey: string, fields: Partial<UnsignedReceipt> = {}): UnsignedReceipt {
  const hash = (c: string) => `sha256:${c.repeat(64)}`
  return {
    version: 1,
    job_id: hash('1'),
    nonce: '2'.repeat(32),
    module_hash: hash('3'),
    inputs_hash: hash('4'),
    stdout_hash: hash('5'),
    stdout_bytes: 12,
    stderr_hash: hash('6'),
    stderr_bytes: 0,
    status: 'ok',
    exit_code: 0,
    limits: { memory_bytes: 64 << 20, timeout_ms: 5000, output_bytes: 1 << 20 },
    wall_time_us: 1500,
    cpu_time_us: 1200,
    started_at: '2025-01-01T00:00:00Z',
    finished_at: '2025-01-01T00:00:00.0015Z',
    node: { peer_id: PEER_ID, public_key: publicKey },
    runtime: { name: 'v8-wasm', version: '24.21.0' },
    ...fields
  }
}
