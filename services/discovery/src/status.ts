/** The node's status and identity as JSON: one builder, in @phase-network/rpc, for the HTTP API and the CLI. */
export { nodeStatusJson, nodeInfoJson, type NodeStatus, type NodeProcessStatus } from '@phase-network/rpc'
