/**
 * Fuel and profile of a job, as the node applies them (issue 12): the manifest's `limits.fuel`
 * lowered to the node's cap; a deterministic job is always metered (the cap when it names no
 * fuel). The receipt states the fuel applied (`limits.fuel`), the fuel used and the profile.
 */
import { manifestProfile, type Manifest, type ManifestProfile } from '@phase-network/protocol'
import type { UnsignedReceipt } from '@phase-network/protocol'
import { DEFAULT_MAX_FUEL } from '@phase-network/process'

/** The fuel the job runs with, or undefined when it is not metered. */
export function jobFuel (manifest: Manifest, maxFuel: number = DEFAULT_MAX_FUEL): number | undefined {
  const asked = manifest.limits?.fuel ?? (manifestProfile(manifest) === 'deterministic' ? maxFuel : undefined)
  return asked === undefined ? undefined : Math.min(asked, maxFuel)
}

/** The receipt's metering members: `fuel_used` when metered and counted, `profile` only when deterministic. */
export function meteringMembers (profile: ManifestProfile, fuel: number | undefined, fuelUsed: bigint): Pick<UnsignedReceipt, 'fuel_used' | 'profile'> {
  return {
    // 0 from an executor: not counted (a metered job killed by its wall-time limit).
    ...(fuel !== undefined && fuelUsed > 0n ? { fuel_used: Number(fuelUsed) } : {}),
    ...(profile === 'deterministic' ? { profile } : {})
  }
}
