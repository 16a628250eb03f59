/**
 * Phase documents — the job manifest and the execution receipt — validated against their JSON
 * Schemas in `schemas/` (compiled once), with the job id and the inputs hash. Portable: no
 * Node-only APIs, so the same code runs in the node, the CLI, the SDKs and a browser.
 */
export { parseManifest, upgradeManifest, jobIdOf, inputsHashOf, manifestInputs, manifestProfile, manifestStdin, randomNonce } from './manifest.ts'
export type { Manifest, ManifestInput, ManifestLimits, ManifestProfile, ManifestRequirements, ManifestV01, ParseManifestOptions, ContentHasher } from './manifest.ts'
export { parseReceipt, parseReceivedReceipt, validateUnsignedReceipt, MAX_RECEIPT_BYTES } from './receipt.ts'
export { receivedText, parseReceivedText, canonicalViolation, findRepeatedMember } from './received.ts'
export type { Receipt, ReceiptOutput, UnsignedReceipt, ReceiptStatus, TrapReason } from './receipt.ts'
