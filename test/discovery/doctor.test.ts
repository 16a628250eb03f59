import { describe, it, expect, afterAll } from '@jest/globals'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { networkChecks, fileChecks, configWarnings, worst, SKEW_WARN_MS, SKEW_FAIL_MS, type FileReport } from '../../services/discovery/src/doctor.ts'
import { reachability, isPrivateIp, type NetworkReport, type AddressReport } from '../../services/discovery/src/p2p/diagnostics.ts'
import { summarizeSkew } from '../../services/discovery/src/p2p/clock.ts'
import { loadConfig, type NodeConfig } from '../../services/core/process/src/config.ts'

const dir = mkdtempSync(join(tmpdir(), 'phase-doctor-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })
let files = 0
function config (raw: Record<string, unknown> = {}): NodeConfig {
  const file = join(dir, `plasmd-${files++}.json`)
  writeFileSync(file, JSON.stringify({ state_dir: join(dir, 'state'), ...raw }), { mode: 0o600 })
  return loadConfig({ env: {}, file })
}

function network (over: Partial<NetworkReport> = {}): NetworkReport {
  return {
    listen_addresses: ['/ip4/203.0.113.5/tcp/4001'],
    announced_addresses: ['/ip4/203.0.113.5/tcp/4001/p2p/12D3KooW'],
    addresses: [{ address: '/ip4/203.0.113.5/tcp/4001', type: 'transport', verified: true }],
    reachability: 'public',
    nat: { autonat: 'no_observations', behind_nat: false, observed_addresses: [] },
    relay_reservations: [],
    bootstrap: [],
    peers_connected: 3,
    dht_routing_table_size: 3,
    clock: { peers_asked: 3, peers_answered: 3, median_skew_ms: 4, max_abs_skew_ms: 9, samples: [] },
    ...over
  }
}

const P2P_ON = { p2p: { enabled: true, listen: ['/ip4/0.0.0.0/tcp/4001'], bootstrap: ['/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWSnpBy4Hkmb6THNJ7ao5ShQAH1wxs2Rbk5iKdPkgNtfcx'] } }
const byName = (checks: Array<{ name: string, status: string }>, name: string): string | undefined => checks.find((c) => c.name === name)?.status

describe('doctor checks', () => {
  it('says ok for a public, connected node with a close clock', () => {
    const checks = networkChecks(config(P2P_ON), network())
    expect(worst(checks.map((c) => c.status as 'ok'))).toBe('ok')
  })

  it('warns behind a NAT, naming where peers see the node and where it listens', () => {
    const checks = networkChecks(config(P2P_ON), network({ reachability: 'private', nat: { autonat: 'unconfirmed', behind_nat: true, observed_addresses: ['/ip4/198.51.100.7/tcp/61000'] } }))
    const c = checks.find((x) => x.name === 'reachability')!
    expect(c.status).toBe('warn')
    expect(c.message).toContain('behind a NAT')
    expect(c.message).toContain('198.51.100.7')
  })

  it('warns when reachable only through a relay', () => {
    expect(byName(networkChecks(config(P2P_ON), network({ reachability: 'relayed', relay_reservations: ['/ip4/1.2.3.4/tcp/1/p2p/x/p2p-circuit'] })), 'reachability')).toBe('warn')
  })

  it('fails when no bootstrap peer is reachable, warns when some are not', () => {
    const down = { address: 'a', peer_id: null, connected: false, reachable: false, error: 'TimeoutError' }
    const up = { address: 'b', peer_id: null, connected: true, reachable: true, error: null }
    expect(byName(networkChecks(config(P2P_ON), network({ bootstrap: [down] })), 'bootstrap')).toBe('fail')
    expect(byName(networkChecks(config(P2P_ON), network({ bootstrap: [down, up] })), 'bootstrap')).toBe('warn')
    expect(byName(networkChecks(config(P2P_ON), network({ bootstrap: [up] })), 'bootstrap')).toBe('ok')
  })

  it('warns from SKEW_WARN_MS and fails from SKEW_FAIL_MS of clock skew', () => {
    const at = (ms: number): string | undefined => byName(networkChecks(config(P2P_ON), network({ clock: { peers_asked: 1, peers_answered: 1, median_skew_ms: ms, max_abs_skew_ms: Math.abs(ms), samples: [] } })), 'clock')
    expect(at(SKEW_WARN_MS - 1)).toBe('ok')
    expect(at(-SKEW_WARN_MS)).toBe('warn')
    expect(at(SKEW_FAIL_MS)).toBe('fail')
  })

  it('warns on an empty routing table and on no peers', () => {
    const checks = networkChecks(config(P2P_ON), network({ peers_connected: 0, dht_routing_table_size: 0 }))
    expect(byName(checks, 'peers')).toBe('warn')
    expect(byName(checks, 'dht')).toBe('warn')
  })

  it('says ok when p2p is off, with no network checks', () => {
    const checks = networkChecks(config({ p2p: { enabled: false } }), null)
    expect(checks).toEqual([expect.objectContaining({ name: 'network', status: 'ok' })])
  })
})

describe('doctor file checks', () => {
  const file = (what: string, mode: string | null, dirMode = '0755'): FileReport => ({ what, path: `/x/${what}`, exists: mode !== null, mode, uid: 0, dir_mode: dirMode })

  it('fails a secret other users can read, and passes 0600', () => {
    expect(fileChecks([file('receipt_key', '0640')])[0]!.status).toBe('fail')
    expect(fileChecks([file('identity_key', '0600')])[0]!.status).toBe('ok')
    expect(fileChecks([file('token_file', '0604')])[0]!.status).toBe('fail')
  })

  it('fails an internal socket others can write to (connect), not one they can only read', () => {
    expect(fileChecks([file('signer_socket', '0777')])[0]!.status).toBe('fail')
    expect(fileChecks([file('executor_0_socket', '0755')])[0]!.status).toBe('ok')
  })

  it('judges a socket with its folder: an open executor socket in the 0770 executors folder is fine, the signer\'s open to its group is not', () => {
    expect(fileChecks([file('executor_0_socket', '0666', '0770')])[0]!.status).toBe('ok')
    expect(fileChecks([file('executor_0_socket', '0666', '0771')])[0]!.status).toBe('fail')
    expect(fileChecks([file('signer_socket', '0660', '0750')])[0]!.status).toBe('fail')
    expect(fileChecks([file('signer_socket', '0660', '0700')])[0]!.status).toBe('ok')
  })

  it('warns on a public socket every local user can write to', () => {
    expect(fileChecks([file('public_grpc_socket', '0666')])[0]!.status).toBe('warn')
    expect(fileChecks([file('public_grpc_socket', '0660')])[0]!.status).toBe('ok')
  })

  it('fails a missing key and a state folder others can write', () => {
    expect(fileChecks([file('receipt_key', null)])[0]!.status).toBe('fail')
    expect(fileChecks([file('state_dir', '0777')])[0]!.status).toBe('fail')
  })
})

describe('doctor config warnings', () => {
  it('names loopback-only listening, no way to find peers, and UPnP', () => {
    const w = configWarnings(config({ p2p: { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, upnp: true } }))
    expect(w.join('\n')).toMatch(/loopback addresses only/)
    expect(w.join('\n')).toMatch(/finds no peer by itself/)
    expect(w.join('\n')).toMatch(/upnp/)
  })

  it('has nothing to say about the embedded defaults with a bootstrap list', () => {
    expect(configWarnings(config(P2P_ON))).toEqual([])
  })
})

describe('reachability', () => {
  const t = (address: string, verified = true): AddressReport => ({ address, type: 'transport', verified })
  it('is public for a listening address in public space that no peer contradicts', () => {
    expect(reachability([t('/ip4/203.0.113.5/tcp/1')], [], false, 1)).toBe('public')
  })
  it('is not public for the same address when peers see the node elsewhere (a NAT)', () => {
    expect(reachability([t('/ip4/203.0.113.5/tcp/1')], [], true, 1)).toBe('private')
  })
  it('is public when AutoNAT confirmed an observed public address', () => {
    expect(reachability([t('/ip4/10.0.0.2/tcp/1'), { address: '/ip4/198.51.100.7/tcp/1', type: 'observed', verified: true }], [], true, 1)).toBe('public')
  })
  it('is relayed with only private addresses and a relay reservation', () => {
    expect(reachability([t('/ip4/10.0.0.2/tcp/1')], ['/ip4/1.2.3.4/tcp/1/p2p/x/p2p-circuit'], true, 1)).toBe('relayed')
  })
  it('is offline with no address and no connection', () => {
    expect(reachability([], [], null, 0)).toBe('offline')
  })
  it('knows private address space', () => {
    for (const ip of ['10.1.2.3', '192.168.0.1', '172.16.0.1', '127.0.0.1', '100.64.0.1', '::1', 'fd00::1', 'fe80::1']) expect(isPrivateIp(ip)).toBe(true)
    for (const ip of ['203.0.113.5', '172.32.0.1', '8.8.8.8', '2001:db8::1']) expect(isPrivateIp(ip)).toBe(false)
  })
})

describe('summarizeSkew', () => {
  it('takes the median and the largest skew by size', () => {
    expect(summarizeSkew([{ peer: 'a', skewMs: 5, rttMs: 1 }, { peer: 'b', skewMs: -40, rttMs: 1 }, { peer: 'c', skewMs: 10, rttMs: 1 }])).toEqual({ medianMs: 5, maxAbsMs: 40 })
    expect(summarizeSkew([])).toBeUndefined()
  })
})
