/**
 * Phase documents — manifest and receipt — with their JSON Schemas (`schemas/`), the job id and
 * inputs hash. Portable: no Node-only APIs, so the same code verifies in a browser.
 */
export { parseManifest, upgradeManifest, jobIdOf, inputsHashOf, manifestStdin, randomNonce } from './manifest.ts'
export type { Manifest, ManifestLimits, ManifestRequirements, ManifestV01 } from './manifest.ts'
export { parseReceipt, validateUnsignedReceipt } from './receipt.ts'
export type { Receipt, UnsignedReceipt, ReceiptStatus } from './receipt.ts'
