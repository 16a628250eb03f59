/**
 * Unix socket housekeeping: a killed server leaves its socket file behind, and binding again
 * fails with EADDRINUSE. Remove the file only when nothing answers on it.
 */
import { connect } from 'node:net'
import { mkdir, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Creates the socket's folder and removes a stale socket file; refuses a live one. */
export async function prepareSocket (address: string): Promise<void> {
  if (!address.startsWith('unix:')) return
  const path = address.slice('unix:'.length)
  await mkdir(dirname(path), { recursive: true, mode: 0o750 })
  const live = await new Promise<boolean>((resolve) => {
    const socket = connect(path)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
  if (live) throw Object.assign(new Error(`another process is serving ${path}`), { code: 'EADDRINUSE' })
  await unlink(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
}
