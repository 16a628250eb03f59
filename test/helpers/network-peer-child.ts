/**
 * Child process of network-peer.ts: argv = count, seed address, 'tcp' | 'all'. Sends
 * {ids, addresses} when up, then answers requests: 'stats', and for the bench `provide`,
 * `lookup` (time until a DHT lookup names a given provider) and `find` (FindExecutors), `lag`
 * (the event loop's p99 delay since the last ask, ms), and `block` (keeps the event loop busy for `ms`).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { startPeer, statsOf, dhtOf, LOOPBACK } from './network-peer.ts'
import { capabilityKey } from '../../services/discovery/src/p2p/providers.ts'

// @chainsafe/libp2p-quic 2.1.1 lets a handshake timeout escape as an unhandled rejection
// (`Error: timed out`, code 'Unknown') on a loaded machine; it would end this process.
process.on('unhandledRejection', (err) => { process.stderr.write(`peer child: unhandled rejection: ${String(err)}\n`) })

const count = Number(process.argv[2])
const seed = process.argv[3]!
const listen = process.argv[4] === 'tcp' ? LOOPBACK.filter((a) => a.includes('/tcp')) : LOOPBACK
const nets = await Promise.all(Array.from({ length: count }, async () => await startPeer([], listen)))
// A loaded machine times out some handshakes: try again a few times.
const join = async (n: (typeof nets)[number]): Promise<void> => {
  for (let i = 0; ; i++) {
    try { await n.dial(seed); return } catch (err) { if (i >= 4) throw err }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}
await Promise.all(nets.map(join))
process.send!({ ids: nets.map((n) => n.peerId), addresses: nets.map((n) => n.addresses()) })

// How late this process's event loop runs: `lag` gives the p99 since the last ask (the bench waits for
// the join's work to settle before it measures lookups).
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()

type Msg = 'stats' | 'lag' | { cmd: 'provide', index: number, key: string } | { cmd: 'lookup', key: string, provider: string } | { cmd: 'find' } | { cmd: 'block', ms: number }

async function answer (m: Msg): Promise<unknown> {
  if (m === 'stats') return nets.map(statsOf)
  if (m === 'lag') {
    const p99 = loopDelay.percentile(99) / 1e6
    loopDelay.reset()
    return p99
  }
  if (m.cmd === 'block') {
    // A busy event loop (a long synchronous task), as a loaded host has: nothing in JS runs.
    const until = Date.now() + m.ms
    while (Date.now() < until) { /* busy */ }
    return m.ms
  }
  if (m.cmd === 'provide') {
    const t = performance.now()
    {
      // A failed or slow provide says which requests it waited on (the bench's figures alone do not)
      // and how late this process's event loop ran meanwhile.
      const open = new Map<string, number>()
      const log: string[] = []
      const lag = monitorEventLoopDelay({ resolution: 10 })
      lag.enable()
      const lagOf = (): string => `event loop delay p50/p99/max ${Math.round(lag.percentile(50) / 1e6)}/${Math.round(lag.percentile(99) / 1e6)}/${Math.round(lag.max / 1e6)} ms`
      try {
        for await (const ev of dhtOf(nets[m.index]!).provide(await capabilityKey(m.key), { signal: AbortSignal.timeout(30_000) }) as AsyncIterable<{ name: string, to?: unknown, from?: unknown, peer?: unknown, error?: Error, messageType?: unknown }>) {
          const who = String(ev.to ?? ev.from ?? ev.peer ?? '').slice(-6)
          if (ev.name === 'SEND_QUERY') open.set(who, performance.now() - t)
          if (ev.name === 'PEER_RESPONSE' || ev.name === 'QUERY_ERROR') open.delete(who)
          log.push(`${Math.round(performance.now() - t)} ${ev.name} ${who} ${ev.error?.name ?? ''} ${ev.messageType ?? ''}`)
        }
      } catch (err) {
        lag.disable()
        process.stderr.write(`peer child: provide of ${m.key} failed: ${String(err)}; ${lagOf()}; open ${JSON.stringify([...open])} log ${log.slice(-200).join(' | ')}\n`)
        return -1
      }
      lag.disable()
      if (performance.now() - t > 10_000) process.stderr.write(`peer child: slow provide of ${m.key} ${Math.round(performance.now() - t)} ms; ${lagOf()}; log ${log.slice(-200).join(' | ')}\n`)
    }
    return performance.now() - t
  }
  if (m.cmd === 'lookup') {
    const key = await capabilityKey(m.key)
    const out: Array<{ ms: number, local: boolean }> = []
    for (const net of nets) {
      if (net.peerId === m.provider) continue
      const t = performance.now()
      let ms = -1
      let local = false
      try {
        for await (const ev of dhtOf(net).findProviders(key, { signal: AbortSignal.timeout(10_000) })) {
          if (ev.name === 'PROVIDER' && ev.providers?.some((p) => p.id.toString() === m.provider) === true) {
            ms = performance.now() - t
            local = ev.from.toString() === net.peerId
            break
          }
        }
      } catch {}
      out.push({ ms, local })
    }
    return out
  }
  const out: Array<{ ms: number, ids: string[] }> = []
  for (const net of nets) {
    const t = performance.now()
    const ids = await net.findExecutors({}, { limit: 100 }).then((f) => f.map((e) => e.peerId), () => [])
    out.push({ ms: performance.now() - t, ids })
  }
  return out
}

// Lives until killed (or its parent goes).
process.on('disconnect', () => { process.exit(0) })
// Every request gets an answer, or the parent would wait for ever.
process.on('message', (m) => { void answer(m as Msg).then((r) => { process.send!(r as never) }, (err: unknown) => { process.send!({ error: String(err) }) }) })
setInterval(() => {}, 1 << 30)
