/**
 * The JSON face of a finished job, shared by the HTTP API and `phase run --json`: output as
 * text for reading and as base64 for the exact bytes the receipt hashes; output files (written
 * under /out) as path + base64 of their bytes, sorted by path as the receipt lists them.
 */
export interface JobOutcome {
  jobId: string
  status: string
  exitCode: number
  stdout: Uint8Array
  stderr: Uint8Array
  outputs?: ReadonlyArray<{ path: string, data: Uint8Array }>
}

export function jobOutcomeJson (o: JobOutcome): Record<string, unknown> {
  const stdout = Buffer.from(o.stdout.buffer, o.stdout.byteOffset, o.stdout.byteLength)
  const stderr = Buffer.from(o.stderr.buffer, o.stderr.byteOffset, o.stderr.byteLength)
  return {
    job_id: o.jobId,
    status: o.status,
    exit_code: o.exitCode,
    stdout: stdout.toString('utf8'),
    stderr: stderr.toString('utf8'),
    stdout_base64: stdout.toString('base64'),
    stderr_base64: stderr.toString('base64'),
    outputs: (o.outputs ?? []).map(({ path, data }) => ({ path, data_base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') }))
  }
}
