/**
 * Messages between the wasmer runtime (wasmer-runtime.ts) and its runner processes (runner.ts),
 * over the child's IPC channel with `serialization: 'advanced'` (byte arrays travel as such).
 */
import type { TrapReason } from '../trap.ts'

/** Parent → runner: run one job. */
export interface RunnerJob {
  kind: 'run'
  id: number
  /** Cache key of the admitted module in the runner (hash and the memory cap it was admitted for). */
  key: string
  /** The admitted module; absent when the parent believes the runner holds `key`. */
  module?: Uint8Array<ArrayBuffer>
  args: string[]
  env: Record<string, string>
  stdin: Uint8Array
  outputBytes: number
}

export type RunnerStatus = 'ok' | 'exit' | 'trap' | 'output_limit'

/** Runner → parent: one per job (`result`, `missing` or `refused`), and `ready` once booted. */
export type RunnerMessage =
  | { kind: 'ready' }
  | { kind: 'missing', id: number }
  | { kind: 'refused', id: number, code: 'invalid_module', message: string }
  | RunnerResult

export interface RunnerResult {
  kind: 'result'
  id: number
  status: RunnerStatus
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  trap?: TrapReason
  detail: string
  /** µs from the command's start to its end (excludes loading the package). */
  wallTimeUs: number
  /** Process CPU time during the run (all of the runner's threads), µs. */
  cpuTimeUs: number
  /** Time spent validating and loading the module into a package, when this job did it. */
  compileTimeUs?: number
  startedAt: number
  finishedAt: number
  /** False when the sandbox did not close in time: the parent replaces this runner. */
  clean: boolean
}
