/** A valid unsigned receipt for tests, with every field filled in. */
import type { UnsignedReceipt } from '../../services/core/protocol/src/documents/receipt.ts'

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

/**
 * The largest receipt the schema allows: every optional member, 256 outputs whose paths are
 * 255 characters, every count at its maximum, runtime strings of 64 characters that JCS writes
 * as 6-byte `\u` escapes. Outputs sorted by path, as every verifier requires.
 */
export function largestReceipt (publicKey: string): UnsignedReceipt {
  const MAX = Number.MAX_SAFE_INTEGER
  const outputs = Array.from({ length: 256 }, (_, i) => {
    const name = `${String(i).padStart(3, '0')}-`
    return { path: `/out/${name}${'x'.repeat(255 - '/out/'.length - name.length)}`, hash: `sha256:${'f'.repeat(64)}`, bytes: MAX }
  })
  return unsignedReceipt(publicKey, {
    nonce: 'f'.repeat(64),
    stdout_bytes: MAX,
    stderr_bytes: MAX,
    status: 'trap',
    trap: 'indirect_call_mismatch',
    exit_code: 4294967295,
    limits: { memory_bytes: MAX, timeout_ms: MAX, output_bytes: MAX, fuel: MAX },
    outputs,
    fuel_used: MAX,
    profile: 'deterministic',
    compile_time_us: MAX,
    wall_time_us: MAX,
    cpu_time_us: MAX,
    started_at: '2025-12-31T23:59:59.999999999Z',
    finished_at: '2025-12-31T23:59:59.999999999Z',
    node: { peer_id: 'z'.repeat(100), public_key: publicKey },
    runtime: { name: '\u0001'.repeat(64), version: '\u0001'.repeat(64) }
  })
}
