/**
 * A user's script in a fresh project that installed the SDK's npm tarballs (test/sdk/pack.test.ts
 * copies it there and runs it on each Node it tests). Plain JavaScript, so that Node 20 runs it.
 *
 *   node consumer.mjs <receipts.v1.json> <hello.wasm> [grpc address]
 *
 * Prints one JSON line per result: the Node version and the file the SDK was loaded from; which
 * side of protocol's conditional imports (#ajv, #sha256-native, #ed25519-native) ran; the job id
 * of a fixed manifest; each shared vector's verdict; with an address, a real job's run.
 */
import crypto from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { verdictsOf, fixedManifest } from './vectors.mjs'

const [vectorsFile, helloFile, address] = process.argv.slice(2)
const say = (doc) => console.log(JSON.stringify(doc))

// Counted before the SDK loads: node:crypto's SHA-256 (#sha256-native, "node") and WebCrypto's
// verify (what ed25519.ts uses when #ed25519-native gives no node:crypto verifier, "default").
let nodeSha256 = 0
const createHash = crypto.createHash
crypto.createHash = (algorithm, ...rest) => { if (algorithm === 'sha256') nodeSha256++; return createHash(algorithm, ...rest) }
// The one-shot crypto.hash (Node >= 20.12), which the protocol prefers where there is one.
const oneShot = crypto.hash
if (typeof oneShot === 'function') crypto.hash = (algorithm, ...rest) => { if (algorithm === 'sha256') nodeSha256++; return oneShot(algorithm, ...rest) }
syncBuiltinESMExports()
let webCryptoVerify = 0
const subtleVerify = globalThis.crypto.subtle.verify.bind(globalThis.crypto.subtle)
globalThis.crypto.subtle.verify = async (...args) => { webCryptoVerify++; return await subtleVerify(...args) }

const { PhaseClient, manifest, jobIdOf, verify } = await import('@phase-network/sdk')
const ajvLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('/node_modules/ajv/'))
say({ node: process.version, sdk: import.meta.resolve('@phase-network/sdk') })
// #ajv "node": ajv is required on first use, not when the SDK is imported ("default" imports it statically).
const ajvAtImport = ajvLoaded()

const hello = new Uint8Array(readFileSync(helloFile))
say({ jobId: jobIdOf(fixedManifest(manifest, hello)) })
say({ verdicts: await verdictsOf(verify, JSON.parse(readFileSync(vectorsFile, 'utf8')).cases) })
say({ conditions: { ajvAtImport, ajvAfterUse: ajvLoaded(), nodeSha256, webCryptoVerify } })

if (address !== undefined) {
  const client = new PhaseClient({ address, timeoutMs: 60_000 })
  try {
    const r = await client.run(helloFile, ['Hello, World'], { trustNode: true })
    const key = (await client.nodeInfo()).receiptPublicKey
    // The receipt again through the standalone verify: as received, and with one value changed.
    const again = await verify(r.receiptJson, { expectedKey: key, job: r.manifest, outputs: { stdout: r.stdout, stderr: r.stderr } })
    const tampered = new TextEncoder().encode(new TextDecoder().decode(r.receiptJson).replace('"exit_code":0', '"exit_code":1'))
    const refused = await verify(tampered, { expectedKey: key, job: r.manifest, outputs: { stdout: r.stdout, stderr: r.stderr } }).then(() => 'ok', (err) => `failed:${err.check}`)
    say({ run: { stdout: new TextDecoder().decode(r.stdout), status: r.status, verified: r.verification.verified, jobId: r.jobId, verifiedJobId: again.receipt.job_id, tampered: refused } })
  } finally {
    client.close()
  }
}
