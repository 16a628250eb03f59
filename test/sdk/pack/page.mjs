/**
 * A browser page's script, bundled by esbuild from the installed SDK tarballs
 * (test/sdk/pack.test.ts): the shared vectors through `verify`, and the job id of a manifest.
 * It writes its results as JSON into <pre id="result"> for the test to read from the DOM.
 */
import { verify } from '@phase-network/sdk/verify'
import { manifest, jobIdOf } from '@phase-network/sdk/manifest'
import { verdictsOf, fixedManifest } from './vectors.mjs'

const out = { userAgent: navigator.userAgent }
try {
  const [vectors, hello] = await Promise.all([
    fetch('/vectors.json').then(async (r) => await r.json()),
    fetch('/hello.wasm').then(async (r) => new Uint8Array(await r.arrayBuffer()))
  ])
  out.jobId = jobIdOf(fixedManifest(manifest, hello))
  out.verdicts = await verdictsOf(verify, vectors.cases)
} catch (err) {
  out.error = String(err?.stack ?? err)
}
document.getElementById('result').textContent = JSON.stringify(out)
