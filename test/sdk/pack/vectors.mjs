/**
 * The shared receipt vectors through an SDK `verify`, as test/sdk/ts.test.ts runs them: the
 * verdict of each case, `ok` or `failed:<check>`. Plain portable JavaScript (Node 20 and a
 * browser page import it as it is).
 */

const bytes = (b64) => b64 === undefined ? undefined : Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))

/** The verify options a vector's `expect` stands for. */
export function optionsOf (e) {
  return {
    expectedKey: e.public_key,
    ...(e.job !== undefined && { expectJob: { jobId: e.job.job_id, nonce: e.job.nonce, moduleHash: e.job.module_hash, inputsHash: e.job.inputs_hash } }),
    ...(e.outputs !== undefined && { outputs: { stdout: bytes(e.outputs.stdout_base64), stderr: bytes(e.outputs.stderr_base64), ...(e.outputs.files_base64 !== undefined && { files: Object.entries(e.outputs.files_base64).map(([path, b64]) => ({ path, data: bytes(b64) })) }) } }),
    ...(e.peer_id !== undefined && { expectedPeerId: e.peer_id })
  }
}

/** Each case's verdict by name. */
export async function verdictsOf (verify, cases) {
  const verdicts = {}
  for (const c of cases) {
    try {
      await verify(c.receipt_json, optionsOf(c.expect))
      verdicts[c.name] = 'ok'
    } catch (err) {
      verdicts[c.name] = err.code === 'verification_failed' ? `failed:${err.check}` : `error:${err.code ?? err.name}:${err.message}`
    }
  }
  return verdicts
}

/** The manifest both sides compute the job id of: hello.wasm, one argument, a fixed nonce. */
export function fixedManifest (manifest, hello) {
  return manifest(hello).args('Hello, World').nonce('00'.repeat(16)).build()
}
