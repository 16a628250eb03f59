/**
 * @phase-network/protocol — what two parties must agree on, portable to any JavaScript runtime:
 * the typed errors and their one table of gRPC/HTTP codes, RFC 8785 canonical JSON, `sha256:`
 * content hashes, the manifest / receipt / capability documents (JSON Schema via ajv) and
 * receipt verification (@noble/ed25519, node:crypto or WebCrypto where present). Node-only
 * parts (signing with node:crypto keys, the node:crypto hasher and verifier, the job's JSON
 * face) are behind `@phase-network/protocol/node`, so a browser bundle never pulls them in.
 */
export * from './errors.ts'
export * from './canonical.ts'
export * from './hash.ts'
export * from './crypto/index.ts'
export * from './crypto/domain.ts'
export * from './crypto/capability.ts'
export * from './crypto/output-files.ts'
export * from './documents/index.ts'
export { validator, describeError, sanitize, isCanonicalBase64, type SchemaName } from './documents/validate.ts'
export { messageBudget, MESSAGE_ROOM_BYTES, CLIENT_MAX_MESSAGE_BYTES, STREAM_MESSAGE_BYTES, type MessageBudget, type MessageLimits } from './message-budget.ts'
export { configDefault, configDefaults, configDefaultKeys, type ConfigDefault, type ConfigDefaultKey, type ConfigDefaults } from './documents/config-defaults.ts'
