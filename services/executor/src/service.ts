/**
 * The executor's gRPC service as plain async functions over a WasmRuntime.
 */
import type { ExecutorService } from '@phase-network/rpc/executor/v1'
import type { ServiceImpl } from '@phase-network/rpc'
import type { Logger } from '@phase-network/process'
import type { WasmProfile, WasmRuntime } from './runtime.ts'
import { processInfo } from '@phase-network/rpc'
import { HashMismatchError, InvalidArgumentError } from '@phase-network/protocol/errors'
import { contentHash } from '@phase-network/protocol/hash'

/** `''` is the proto default: the default profile. */
function profileOf (profile: string): WasmProfile {
  if (profile === '' || profile === 'default') return 'default'
  if (profile === 'deterministic') return 'deterministic'
  throw new InvalidArgumentError(`unknown profile '${profile.slice(0, 40)}'`)
}

export interface ExecutorServiceComponents {
  runtime: WasmRuntime
  logger: Logger
  /** This executor's index (its socket is executor-<index>.sock). */
  index?: number
}

export function createExecutorService ({ runtime, logger, index = 0 }: ExecutorServiceComponents): ServiceImpl<typeof ExecutorService> {
  return {
    async execute (request, ctx) {
      const limits = request.limits
      const result = await runtime.run({
        jobId: request.jobId,
        moduleHash: request.moduleHash,
        module: request.module.byteLength > 0 ? request.module : undefined,
        args: request.args,
        env: request.env,
        stdin: request.stdin,
        inputs: request.inputs.map((f, i) => ({ path: f.path, data: inputBytes(f, i) })),
        limits: {
          memoryBytes: Number(limits?.memoryBytes ?? 0n),
          timeoutMs: limits?.timeoutMs ?? 0,
          outputBytes: Number(limits?.outputBytes ?? 0n),
          // 0: unmetered (proto default).
          ...((limits?.fuel ?? 0n) > 0n ? { fuel: limits!.fuel } : {})
        },
        profile: profileOf(request.profile)
      }, { signal: ctx.signal })
      logger.debug({ jobId: request.jobId, status: result.status, wallTimeUs: result.wallTimeUs }, 'executed')
      return {
        status: result.status,
        exitCode: BigInt(result.exitCode),
        stdout: result.stdout,
        stderr: result.stderr,
        wallTimeUs: BigInt(result.wallTimeUs),
        cpuTimeUs: BigInt(result.cpuTimeUs),
        startedAt: result.startedAt,
        finishedAt: result.finishedAt,
        runtimeName: runtime.name,
        runtimeVersion: runtime.version,
        detail: result.detail,
        outputs: result.outputs,
        trap: result.trap ?? '',
        compileTimeUs: BigInt(result.compileTimeUs ?? 0),
        fuelUsed: result.fuelUsed ?? 0n
      }
    },
    async getStatus () {
      const s = runtime.status()
      return { ...s, completedJobs: BigInt(s.completedJobs), runtimeName: runtime.name, runtimeVersion: runtime.version, index, process: processInfo() }
    }
  }
}

/** An input file's bytes, checked against its hash when the request gives one. */
function inputBytes (f: { hash: string, data: Uint8Array }, index: number): Uint8Array {
  if (f.hash !== '' && contentHash(f.data) !== f.hash) throw new HashMismatchError(`input file ${index}: its bytes do not match its hash`)
  return f.data
}
