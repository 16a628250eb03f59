/**
 * @phase-network/protocol/config — what a node's configuration needs of the protocol, and no
 * more: the defaults (the config schema's `default` keywords), the schema validators, and the
 * message budgets derived from the limits. A process that loads only its configuration (an
 * executor, whose worker threads must stay small) does not load the documents, receipt
 * verification or their dependencies.
 */
export { configDefault, type ConfigDefaults } from './documents/config-defaults.ts'
export { validator, describeError } from './documents/validate.ts'
export * from './message-budget.ts'
