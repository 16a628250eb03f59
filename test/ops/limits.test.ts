/**
 * ops/limits.ts: the node's memory and task ceilings follow its configuration, so an operator
 * who adds executors or raises a job's memory gets a unit that still fits them, and one who
 * lowers them gets a tighter one.
 */
import { describe, it, expect } from '@jest/globals'
import { loadConfig } from '../../services/core/process/src/config.ts'
import { nodeLimits, unitDropIn } from '../../ops/limits.ts'

describe('nodeLimits', () => {
  it('gives the shipped defaults 2176 MiB and 240 tasks', () => {
    const l = nodeLimits(loadConfig({ env: { HOME: '/nonexistent' }, file: 'debian/plasmd.json' }))
    expect(l).toEqual({ processMb: { signer: 256, discovery: 640, executor: 576 }, memoryMaxMb: 2176, tasksMax: 240 })
  })

  it('grows by one executor share per executor when executors are added', () => {
    const two = nodeLimits(loadConfig({ env: { HOME: '/nonexistent', PHASE_EXECUTORS: '2' }, file: 'debian/plasmd.json' }))
    const five = nodeLimits(loadConfig({ env: { HOME: '/nonexistent', PHASE_EXECUTORS: '5' }, file: 'debian/plasmd.json' }))
    expect(five.memoryMaxMb - two.memoryMaxMb).toBe(3 * two.processMb.executor)
    expect(five.tasksMax - two.tasksMax).toBe(3 * 40)
  })

  it('follows workers per executor and the largest job memory', () => {
    const base = nodeLimits(loadConfig({ env: { HOME: '/nonexistent' }, file: 'debian/plasmd.json' }))
    const wide = nodeLimits(loadConfig({ env: { HOME: '/nonexistent', PHASE_WORKERS_PER_EXECUTOR: '4' }, file: 'debian/plasmd.json' }))
    expect(wide.processMb.executor - base.processMb.executor).toBe(3 * (256 + 64))
    expect(wide.tasksMax).toBeGreaterThan(base.tasksMax)
  })

  it('budgets a wasmer runner process per worker when executor_runtime is wasmer', () => {
    const v8 = nodeLimits(loadConfig({ env: { HOME: '/nonexistent' }, file: 'debian/plasmd.json' }))
    const wasmer = nodeLimits(loadConfig({ env: { HOME: '/nonexistent', PHASE_EXECUTOR_RUNTIME: 'wasmer' }, file: 'debian/plasmd.json' }))
    // Two executors of one worker each: (384 − 64) MiB and (32 − 8) tasks more per worker.
    expect(wasmer.memoryMaxMb - v8.memoryMaxMb).toBe(2 * (384 - 64))
    expect(wasmer.tasksMax - v8.tasksMax).toBe(2 * (32 - 8))
  })

  it('writes a drop-in systemd reads, naming where the figures come from', () => {
    const text = unitDropIn({ processMb: { signer: 1, discovery: 1, executor: 1 }, memoryMaxMb: 1234, tasksMax: 99 }, '/etc/phase/plasmd.json')
    expect(text).toMatch(/^\[Service\]\nMemoryMax=1234M\nTasksMax=99\n$/m)
    expect(text).toContain('/etc/phase/plasmd.json')
  })
})
