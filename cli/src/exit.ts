/**
 * Exit codes of the phase CLI (sysexits-style for CLI failures, `timeout`-style for jobs).
 * Documented in the README and `phase --help`.
 */
import type { ErrorCode } from '@phase-network/sdk'

export const EXIT = {
  OK: 0,
  /** The receipt did not verify. */
  NOT_VERIFIED: 1,
  /** Command line misuse. */
  USAGE: 64,
  /** The node refused the input (manifest, module, limits). */
  DATA: 65,
  /** A file named on the command line cannot be read. */
  NO_INPUT: 66,
  /** The node is not reachable, or a part of it is down. */
  UNAVAILABLE: 69,
  /** Internal error in the node or the CLI. */
  SOFTWARE: 70,
  /** Cannot write an output file. */
  CANT_CREATE: 73,
  /** The node is busy; retry later. */
  TEMPFAIL: 75,
  /** The node wants an API token. */
  NO_PERM: 77,
  /** The configuration is invalid. */
  CONFIG: 78,
  /** The job hit its wall-time limit. */
  TIMEOUT: 124,
  /** The job trapped, ran out of fuel or hit its memory or output limit. */
  JOB_FAILED: 125
} as const

/** Exit code for an error the node (or the core) reported. */
export function exitCodeFor (code: ErrorCode): number {
  switch (code) {
    case 'unavailable': case 'deadline_exceeded': case 'cancelled': case 'executor_died': case 'request_timeout': return EXIT.UNAVAILABLE
    case 'queue_full': case 'overloaded': return EXIT.TEMPFAIL
    case 'host_not_allowed': return EXIT.NO_PERM
    case 'unauthenticated': return EXIT.NO_PERM
    case 'verification_failed': return EXIT.NOT_VERIFIED
    case 'internal': return EXIT.SOFTWARE
    // The node's config file, read to find the node (`localNode`), is unreadable.
    case 'invalid_config': return EXIT.CONFIG
    default: return EXIT.DATA
  }
}
