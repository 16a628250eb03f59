/** The API token check shared by the gRPC and HTTP faces (constant-time comparison). */
import { timingSafeEqual } from 'node:crypto'
import { UnauthenticatedError } from '@phase-network/protocol'

/** Throws UnauthenticatedError unless `authorization` is `Bearer <token>` (no token configured: open). */
export function checkToken (authorization: string | undefined, token: string | null): void {
  if (token === null) return
  const given = Buffer.from(authorization ?? '')
  const expected = Buffer.from(`Bearer ${token}`)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new UnauthenticatedError()
}
