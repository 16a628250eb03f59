/**
 * The p2p host loads only the parts its configuration turns on (issue 11: each process loads
 * only what it uses): with no bootstrap peers, mDNS off and UPnP off (UPnP is off by default),
 * bootstrap, mDNS and UPnP's port mapper are never loaded; the compile-cache fill's list
 * (optionalParts) loads each of them. Run in a child of the project's Node that records every
 * module resolved (module.registerHooks), with a real host on loopback.
 */
import { describe, it, expect } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT, NODE } from '../helpers/node-harness.ts'

const PEER = pathToFileURL(join(ROOT, 'test/helpers/network-peer.ts')).href
const P2P = pathToFileURL(join(ROOT, 'services/discovery/src/p2p/index.ts')).href
const OPTIONAL = ['@libp2p/bootstrap', '@libp2p/mdns', '@libp2p/upnp-nat']

const CHILD = `
import { registerHooks } from 'node:module'
const seen = new Set()
registerHooks({ resolve (specifier, context, next) { seen.add(specifier); return next(specifier, context) } })
const optional = ${JSON.stringify(OPTIONAL)}
const { startPeer } = await import(${JSON.stringify(PEER)})
const peer = await startPeer([], ['/ip4/127.0.0.1/tcp/0'])
const started = peer.addresses().length
await peer.stop()
const whileRunning = optional.filter((m) => seen.has(m))
const { optionalParts } = await import(${JSON.stringify(P2P)})
await Promise.all(optionalParts())
console.log(JSON.stringify({ started, whileRunning, afterFill: optional.filter((m) => seen.has(m)) }))
process.exit(0)
`

describe('p2p host', () => {
  it('loads bootstrap, mDNS and UPnP only when configured; the fill list loads them all', () => {
    const r = spawnSync(NODE, ['--input-type=module', '-e', CHILD], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 })
    if (r.status !== 0) throw new Error(`the child exited with ${String(r.status)}: ${r.stderr}`)
    const out = JSON.parse(r.stdout) as { started: number, whileRunning: string[], afterFill: string[] }
    expect(out.started).toBeGreaterThan(0)
    expect(out.whileRunning).toEqual([])
    expect(out.afterFill).toEqual(OPTIONAL)
  })
})
