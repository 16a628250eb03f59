/**
 * The runtimes the shared executor suites run against: each test file that covers behaviour
 * every `WasmRuntime` owes (outcomes, hostile modules) runs once per kind, through the same
 * options, so a difference between them shows as a named expectation, never a skipped test.
 */
import { createV8Runtime, createWasmerRuntime, type WasmRuntime } from '../../services/executor/src/index.ts'

export type RuntimeKind = 'v8' | 'wasmer'
export const RUNTIME_KINDS: readonly RuntimeKind[] = ['v8', 'wasmer']

export interface TestRuntimeInit {
  /** Worker threads (v8) or runner processes (wasmer). */
  workers?: number
  queueCapacity?: number
  maxMemoryBytes?: number
  maxModuleBytes?: number
  maxOutputBytes?: number
  /** Sampling of a running job's memory (v8: heap, wasmer: runner RSS); 0 leaves the hard limit only. */
  memoryPollMs?: number
}

export function createRuntime (kind: RuntimeKind, init: TestRuntimeInit = {}): WasmRuntime {
  const { workers, memoryPollMs, ...caps } = init
  if (kind === 'v8') return createV8Runtime({ ...caps, ...(workers === undefined ? {} : { workers }), ...(memoryPollMs === undefined ? {} : { heapPollMs: memoryPollMs }) })
  return createWasmerRuntime({ ...caps, ...(workers === undefined ? {} : { runners: workers }), ...(memoryPollMs === undefined ? {} : { memoryPollMs }) })
}

/** The expectation for this runtime: `{ v8, wasmer }` when they differ, one value when not. */
export function per<T> (kind: RuntimeKind, values: Record<RuntimeKind, T>): T {
  return values[kind]
}
