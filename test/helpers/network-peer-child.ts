/** Child process of network-peer.ts: argv = count, seed address, 'tcp' | 'all'. Sends {ids, addresses} when up. */
import { startPeer, statsOf, LOOPBACK } from './network-peer.ts'

const count = Number(process.argv[2])
const seed = process.argv[3]!
const listen = process.argv[4] === 'tcp' ? LOOPBACK.filter((a) => a.includes('/tcp')) : LOOPBACK
const nets = await Promise.all(Array.from({ length: count }, async () => await startPeer([], listen)))
await Promise.all(nets.map(async (n) => await n.dial(seed)))
process.send!({ ids: nets.map((n) => n.peerId), addresses: nets.map((n) => n.addresses()) })
// Lives until killed (or its parent goes).
process.on('disconnect', () => { process.exit(0) })
process.on('message', (m) => { if (m === 'stats') process.send!(nets.map(statsOf)) })
setInterval(() => {}, 1 << 30)
