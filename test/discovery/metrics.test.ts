import { describe, it, expect } from '@jest/globals'
import { NodeMetrics } from '../../services/discovery/src/metrics.ts'

describe('NodeMetrics', () => {
  it('counts each job under its own status when statuses interleave', async () => {
    const m = new NodeMetrics({ defaultMetrics: false })
    m.jobDone('ok', 0.001, 0.0002)
    m.jobDone('trap', 0.003, 0.001)
    m.jobDone('ok', 0.002, 0.0003)
    expect(await m.jobsByStatus()).toEqual({ ok: 2, trap: 1 })
    const text = (await m.text()).body
    expect(text).toContain('phase_job_duration_seconds_count{status="ok"} 2')
    expect(text).toContain('phase_job_duration_seconds_count{status="trap"} 1')
    expect(text).toContain('phase_job_execution_seconds_sum{status="trap"} 0.001')
  })
})
